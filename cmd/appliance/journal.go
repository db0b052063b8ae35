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
	cmd.AddCommand(newJournalVerifyCmd(), newJournalListCmd(), newJournalExportCmd(), newJournalTailCmd()) // journalcmd.go
	return cmd
}

func newJournalVerifyCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "verify --data DIR [--json]",
		Short: "Walk the journal's hash chain and fingerprint the state",
		Long: "verify walks the journal's hash chain; it prints the entry count, or the first broken link and exits 1. " +
			"It also prints the applied index and a hash of the whole metadata state: nodes at the same applied index must show the same hash.",
		Args: cobra.NoArgs,
	}, adminCall[adminapi.JournalReport]{
		call:      plainCall((*adminapi.Client).VerifyJournal),
		jsonUsage: "print the report as JSON",
		text: func(out io.Writer, rep adminapi.JournalReport) error {
			if !rep.OK {
				fmt.Fprintf(out, "journal: broken at entry %d (last good link: entry %d, %s)\n", rep.BrokenAt, rep.HeadSeq, rep.HeadHash)
				return fmt.Errorf("the journal's hash chain is broken at entry %d", rep.BrokenAt)
			}
			fmt.Fprintf(out, "journal: %d entries, chain intact, head %s\n", rep.Entries, rep.HeadHash)
			_, err := fmt.Fprintf(out, "state: applied index %d, hash %s\n", rep.AppliedIndex, rep.StateHash)
			return err
		},
	})
}
