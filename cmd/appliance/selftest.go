package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newSelftestCmd() *cobra.Command {
	var (
		cf     clientFlags
		size   string
		keep   bool
		verify string
	)
	cmd := &cobra.Command{
		Use:   "selftest --data DIR [--size N]",
		Short: "Push a generated file through the whole byte path and back",
		Long: "selftest has the node write a generated file of N bytes (K, M, G suffixes) through the block pipeline,\n" +
			"commit its manifest through Raft, read it back, check its SHA-256 and delete it (key first, then shards).\n" +
			"It prints each step with its timing and exits 0 only if every step held.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return usageError{err}
			}
			if n <= 0 {
				return usageError{fmt.Errorf("--size must be positive")}
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			req := adminapi.SelftestRequest{Size: n, Keep: keep, VerifyID: verify}
			if verify != "" {
				req.Size = 0
				fmt.Fprintf(out, "selftest: verify %s\n", verify)
			} else {
				fmt.Fprintf(out, "selftest: %s\n", formatSize(n))
			}
			res, err := c.Selftest(cmd.Context(), req, func(s adminapi.SelftestStep) { printStep(out, s) })
			if err != nil {
				return err
			}
			if !res.OK {
				fmt.Fprintf(out, "selftest %s FAILED\n", res.ID)
				return errSilentf(cmd.ErrOrStderr(), "selftest failed: %s", firstFailure(res))
			}
			var total float64
			for _, s := range res.Steps {
				total += s.DurationMS
			}
			fmt.Fprintf(out, "selftest %s ok: %s, sha256 %s, %.0f ms\n", res.ID, formatSize(res.Size), res.SHA256, total)
			if keep {
				fmt.Fprintf(out, "kept: %s\n", res.ID)
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&size, "size", "64M", "bytes to write (suffixes K, M, G)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the file (its ID is printed on a last line `kept: ID`)")
	cmd.Flags().StringVar(&verify, "verify", "", "read back the kept selftest file ID, check it, and delete it (unless --keep)")
	return cmd
}

func printStep(w io.Writer, s adminapi.SelftestStep) {
	status := "ok"
	if !s.OK {
		status = "FAILED: " + s.Error
	}
	rate := ""
	if s.Bytes > 0 && s.DurationMS > 0 {
		rate = fmt.Sprintf("  %7.1f MB/s", float64(s.Bytes)/1e6/(s.DurationMS/1e3))
	}
	detail := ""
	if s.Detail != "" {
		detail = "  (" + s.Detail + ")"
	}
	fmt.Fprintf(w, "  %-16s %10.1f ms%s  %s%s\n", s.Name, s.DurationMS, rate, status, detail)
}

func firstFailure(res adminapi.SelftestResult) string {
	for _, s := range res.Steps {
		if !s.OK {
			return fmt.Sprintf("step %s: %s", s.Name, s.Error)
		}
	}
	return "a step did not hold"
}

// errSilentf prints one sentence to stderr and returns errSilent.
func errSilentf(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, "appliance: "+format+"\n", args...)
	return errSilent
}
