package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newJournalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Inspect the hash-chained journal",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newJournalVerifyCmd())
	return cmd
}

func newJournalVerifyCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "Walk the journal's hash chain",
		Long:  "verify walks the journal's hash chain; it prints the entry count, or the first broken link and exits 1.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := c.VerifyJournal(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !rep.OK {
				fmt.Fprintf(out, "journal: broken at entry %d (last good link: entry %d, %s)\n", rep.BrokenAt, rep.HeadSeq, rep.HeadHash)
				return errSilentf(cmd.ErrOrStderr(), "the journal's hash chain is broken at entry %d", rep.BrokenAt)
			}
			fmt.Fprintf(out, "journal: %d entries, chain intact, head %s\n", rep.Entries, rep.HeadHash)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
