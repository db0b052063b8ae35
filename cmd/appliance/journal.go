package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"valise/adminapi"
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
	return newAdminCmd(&cobra.Command{
		Use:   "verify --data DIR",
		Short: "Walk the journal's hash chain",
		Long:  "verify walks the journal's hash chain; it prints the entry count, or the first broken link and exits 1.",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.JournalReport]{
		call: plainCall((*adminapi.Client).VerifyJournal),
		text: func(out io.Writer, rep adminapi.JournalReport) error {
			if !rep.OK {
				fmt.Fprintf(out, "journal: broken at entry %d (last good link: entry %d, %s)\n", rep.BrokenAt, rep.HeadSeq, rep.HeadHash)
				return fmt.Errorf("the journal's hash chain is broken at entry %d", rep.BrokenAt)
			}
			_, err := fmt.Fprintf(out, "journal: %d entries, chain intact, head %s\n", rep.Entries, rep.HeadHash)
			return err
		},
	})
}
