package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newStatusCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "status --data DIR [--json]",
		Short: "Show the node, Raft, members, disks and journal",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.Status]{
		call:      plainCall((*adminapi.Client).Status),
		text:      printStatus,
		jsonUsage: "print the status as JSON (a stable shape)",
	})
}

// printStatus prints the node's state, then its members and disks as tables.
func printStatus(out io.Writer, st adminapi.Status) error {
	fmt.Fprintf(out, "node      %s (site %s)\n", st.Node.ID, st.Node.Site)
	fmt.Fprintf(out, "https     %s\n", st.Node.Addresses.HTTPS)
	fmt.Fprintf(out, "cluster   %s\n", st.Node.Addresses.Cluster)
	if st.Node.Addresses.Admin != "" {
		fmt.Fprintf(out, "admin     %s\n", st.Node.Addresses.Admin)
	}
	fmt.Fprintf(out, "raft      %s, term %d, commit %d, applied %d\n", st.Raft.State, st.Raft.Term, st.Raft.CommitIndex, st.Raft.AppliedIndex)
	leader := "none known"
	if st.Raft.LeaderID != "" {
		leader = st.Raft.LeaderID + " at " + st.Raft.LeaderAddress
	}
	fmt.Fprintf(out, "leader    %s\n", leader)
	verified := "verified"
	if !st.Journal.Verified {
		verified = "NOT verified"
	}
	fmt.Fprintf(out, "journal   %d entries, %s\n", st.Journal.Entries, verified)
	fmt.Fprintf(out, "layout    %s\n", layoutLine(st.Layout))
	fmt.Fprintf(out, "degraded  %d files\n", st.DegradedFiles)
	fmt.Fprintf(out, "staged    %d uploads\n", st.StagedUploads)
	fmt.Fprintf(out, "scanner   %s\n", scannerLine(st.Scanner))
	fmt.Fprintf(out, "backup    %s\n", lastBackupLine(st.LastBackup)) // backup.go
	fmt.Fprintf(out, "signing-key: %s\n", st.Cluster.SigningKey)
	printRestoreSummary(out, st.Restore) // orphans.go
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMEMBER\tSITE\tADDRESS\tSUFFRAGE\tSTATE\tREACHABLE\tLAST CONTACT")
	for _, m := range st.Members {
		id := m.ID
		if m.Leader {
			id += " (leader)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", id, m.Site, m.Address, m.Suffrage, m.State, m.Reachable, lastContact(m.LastContact, time.Now()))
	}
	fmt.Fprintln(tw, "\nDISK\tSTATE\tFREE\tTOTAL")
	for _, d := range st.Disks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Path, d.State, formatSize(int64(d.FreeBytes)), formatSize(int64(d.TotalBytes)))
	}
	fmt.Fprintln(tw, "\nCLUSTER DISK\tNODE\tSITE\tSTATE\tFREE")
	for _, d := range st.ClusterDisks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Node, d.Site, d.State, formatSize(int64(d.FreeBytes)))
	}
	printCertificates(tw, st.Certificates) // certstatus.go
	return tw.Flush()
}

// layoutLine says which layout new files get and what it survives.
func layoutLine(l adminapi.LayoutInfo) string {
	if l.Layout == "" {
		return "none: " + l.Summary
	}
	if l.Auto {
		return l.Summary + " (auto)"
	}
	return l.Summary
}

// scannerLine sums up the scanner's state in one line.
func scannerLine(s adminapi.ScannerInfo) string {
	where := "configured clamd " + s.Address
	if s.Private {
		where = "private clamd"
	}
	if !s.Running {
		return fmt.Sprintf("NOT running (%s): %s; uploads are held until scanned", where, s.Reason)
	}
	line := fmt.Sprintf("running (%s, %s", where, s.Version)
	if s.DBAgeSeconds > 0 {
		line += ", database " + (time.Duration(s.DBAgeSeconds) * time.Second).String() + " old"
	}
	line += ")"
	if s.TestSignaturesOnly {
		line += "; TEST SIGNATURES ONLY: no official database, nothing real is detected"
	}
	if s.DatabaseUpdate != "" {
		line += "; database " + s.DatabaseUpdate
	}
	if s.Advice != "" {
		line += "; " + s.Advice
	}
	return line
}

// lastContact shows an RFC 3339 time of last contact as an age ("1.2s ago"), "never" when
// empty.
func lastContact(at string, now time.Time) string {
	if at == "" {
		return "never"
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return at
	}
	return max(0, now.Sub(t)).Round(100*time.Millisecond).String() + " ago"
}
