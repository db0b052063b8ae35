package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newSelftestCmd() *cobra.Command {
	var (
		size   string
		keep   bool
		verify string
		n      int64 // size, parsed
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "selftest --data DIR [--size N]",
		Short: "Push a generated file through the whole byte path and back",
		Long: "selftest has the node write a generated file of N bytes (K, M, G suffixes) through the block pipeline,\n" +
			"commit its manifest through Raft, read it back, check its SHA-256 and delete it (key first, then shards).\n" +
			"It prints each step with its timing and exits 0 only if every step held.",
		Args: cobra.NoArgs,
	}, adminCall[adminapi.SelftestResult]{
		check: func([]string) (err error) {
			if n, err = parseSize(size); err != nil {
				return usageError{err}
			}
			if n <= 0 {
				return usageError{fmt.Errorf("--size must be positive")}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.SelftestResult, error) {
			out := cmd.OutOrStdout()
			req := adminapi.SelftestRequest{Size: n, Keep: keep, VerifyID: verify}
			if verify != "" {
				req.Size = 0
				fmt.Fprintf(out, "selftest: verify %s\n", verify)
			} else {
				fmt.Fprintf(out, "selftest: %s\n", formatSize(n))
			}
			return c.Selftest(cmd.Context(), req, func(s adminapi.SelftestStep) { printStep(out, s) })
		},
		text: func(out io.Writer, res adminapi.SelftestResult) error {
			if !res.OK {
				fmt.Fprintf(out, "selftest %s FAILED\n", res.ID)
				return fmt.Errorf("selftest failed: %s", firstFailure(res))
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
	})
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
