package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newOrphansCmd is `appliance orphans [--json]` and `appliance orphans delete [FILE_ID…]`:
// the shard files no manifest references (after a restore, the files uploaded after the
// backup), kept until an administrator deletes them.
func newOrphansCmd() *cobra.Command {
	cmd := newAdminCmd(&cobra.Command{
		Use:   "orphans --data DIR [--json]",
		Short: "List the shard files no file references (uploaded after the backup restored)",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.RestoreReport]{
		call:      plainCall((*adminapi.Client).Orphans),
		text:      printOrphans,
		jsonUsage: "print the restore report with the orphans as JSON",
	})
	cmd.AddCommand(newAdminCmd(&cobra.Command{
		Use:   "delete --data DIR [FILE_ID…] [--json]",
		Short: "Delete the shard files of the orphans named, or of every orphan (journalled)",
	}, adminCall[adminapi.RestoreReport]{
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.RestoreReport, error) {
			return c.DeleteOrphans(cmd.Context(), adminapi.OrphansDeleteRequest{FileIDs: args})
		},
		text: func(out io.Writer, rep adminapi.RestoreReport) error {
			fmt.Fprintln(out, "deleted")
			return printOrphans(out, rep)
		},
		jsonUsage: "print the restore report updated as JSON",
	}))
	return cmd
}

// printOrphans prints one "orphan:" line per orphan, after a count.
func printOrphans(out io.Writer, rep adminapi.RestoreReport) error {
	var bytes int64
	for _, o := range rep.Orphans {
		bytes += o.Bytes
	}
	fmt.Fprintf(out, "orphans: %d (%s)\n", len(rep.Orphans), formatSize(bytes))
	for _, o := range rep.Orphans {
		fmt.Fprintf(out, "orphan: %s shards=%d size=%s disks=%s\n", o.FileID, o.Shards, formatSize(o.Bytes), strings.Join(o.Disks, ","))
	}
	if len(rep.Orphans) > 0 {
		_, err := fmt.Fprintln(out, "delete them with `appliance orphans delete` (all) or `appliance orphans delete FILE_ID…`")
		return err
	}
	return nil
}

// printRestoreSummary is status's block on the last restore, while it has files waiting or
// lost, or orphans.
func printRestoreSummary(out io.Writer, rep *adminapi.RestoreReport) {
	if rep == nil {
		return
	}
	fmt.Fprintf(out, "restore   from %s (index %d) on %s at %s\n", rep.BackupFile, rep.BackupIndex, rep.Node, rep.RestoredAt.Format(time.RFC3339))
	fmt.Fprintf(out, "files     %d complete, %d healable, %d waiting, %d lost (checked %s)\n",
		rep.Complete, rep.Healable, rep.Waiting, rep.Lost, rep.Checked.Format(time.RFC3339))
	if len(rep.WaitingNodes) > 0 {
		fmt.Fprintf(out, "waiting   for nodes %s (join --replace with their disks)\n", strings.Join(rep.WaitingNodes, ", "))
	}
	for i, f := range rep.LostFiles {
		if i == 10 {
			fmt.Fprintf(out, "lost      … (status --json names up to 100)\n")
			break
		}
		fmt.Fprintf(out, "lost      %s %q send %s\n", f.ID, f.Name, f.Send)
	}
	if len(rep.Orphans) > 0 {
		fmt.Fprintf(out, "orphans   %d files no manifest references (appliance orphans)\n", len(rep.Orphans))
	}
}
