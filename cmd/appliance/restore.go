package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"valise/node"
)

func newRestoreCmd() *cobra.Command {
	var (
		opts               node.RestoreOptions
		passFile, identity string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "restore --from FILE --data DIR --expect-key FP (--passphrase-file F | --identity F) [--disks N | --disk PATH...] [--node ID] [--suspend-links]",
		Short: "Build a one-node cluster from a backup, in an empty directory",
		Long: "restore makes the empty DIR a one-node cluster from the backup FILE: the metadata at the backup's\n" +
			"index, the cluster's keys, this node with the disks given. It refuses a backup not signed by the key\n" +
			"whose fingerprint --expect-key gives (init printed it as `signing-key: SHA256:…`, status shows it), and\n" +
			"trusts nothing it read until the whole file verified: on any fault DIR is left empty and the disks\n" +
			"unmarked. A disk given that holds a disk of the backup's cluster is re-attached with its ID, and its node\n" +
			"is the node restored (--node names it otherwise; with neither, a new node). Every session and API token\n" +
			"is revoked: every user logs in again. --suspend-links suspends every link created before the backup\n" +
			"until its sender confirms it. Then run `appliance serve --data DIR`; the other nodes rejoin with\n" +
			"`cluster token --replace ID` here and `join --replace ID` there.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range []struct{ flag, v string }{{"--from FILE", opts.From}, {"--data DIR", opts.DataDir}, {"--expect-key FP", opts.ExpectKey}} {
				if err := required(r.flag, r.v); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("disks") && len(opts.DiskPaths) > 0 {
				return usageError{fmt.Errorf("give --disks or --disk, not both")}
			}
			var err error
			if opts.Unlock, err = readUnlock(passFile, identity); err != nil { // backup.go
				return err
			}
			res, err := node.Restore(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return printAnswer(cmd.OutOrStdout(), res, asJSON, printRestore)
		},
	}
	f := cmd.Flags()
	addDataFlag(cmd, &opts.DataDir)
	f.StringVar(&opts.From, "from", "", "the backup file (required)")
	f.StringVar(&opts.ExpectKey, "expect-key", "", "the fingerprint of the cluster's signing key, SHA256:… (required)")
	f.StringVar(&passFile, "passphrase-file", "", "a file whose first line is the backup's passphrase")
	f.StringVar(&identity, "identity", "", "the age identity file of the recipient the backup was made for")
	f.StringVar(&opts.NodeID, "node", "", "restore as this node of the backup (default: the node the disks' markers name, else a new node)")
	f.BoolVar(&opts.SuspendLinks, "suspend-links", false, "suspend every link created before the backup until its sender confirms it")
	addNewNodeFlags(cmd, newNodeFlags{&opts.Disks, &opts.DiskPaths, &opts.Site, &opts.Listen, &opts.ClusterListen, &opts.Advertise, &opts.AdminSocket})
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// printRestore prints what restore did and what to do next.
func printRestore(out io.Writer, res node.RestoreResult) error {
	rep := res.Report
	dir := filepath.Dir(res.ConfigPath)
	fields := []field{
		{"node-id", res.NodeID},
		{"cluster-id", res.ClusterID},
		{"config", res.ConfigPath},
		{"backup", rep.BackupFile},
		{"backup-created", rep.BackupCreated.UTC().Format(time.RFC3339)},
		{"backup-index", strconv.FormatUint(rep.BackupIndex, 10)},
		{"signing-key", res.SigningKey},
		{"disks-reattached", listOrNone(res.Reattached)},
		{"disks-new", listOrNone(res.NewDisks)},
	}
	if len(res.Retired) > 0 {
		fields = append(fields, field{"disks-retired", strings.Join(res.Retired, ", ") + " (not given: their shards are rebuilt by heal)"})
	}
	if res.CountsError != "" {
		fields = append(fields, field{"files", "not counted yet (" + res.CountsError + "): status shows the counts once the node serves"})
	} else {
		waiting := strconv.Itoa(rep.Waiting)
		if len(rep.WaitingNodes) > 0 {
			waiting += " (on " + strings.Join(rep.WaitingNodes, ", ") + ")"
		}
		fields = append(fields,
			field{"complete", strconv.Itoa(rep.Complete)},
			field{"healable", strconv.Itoa(rep.Healable)},
			field{"waiting", waiting},
			field{"lost", strconv.Itoa(rep.Lost)},
			field{"orphans", strconv.Itoa(len(rep.Orphans))})
	}
	fields = append(fields, field{"revoked", fmt.Sprintf("sessions revoked: %d, tokens revoked: %d — every user logs in again", rep.SessionsRevoked, rep.TokensRevoked)})
	if rep.LinksSuspended {
		fields = append(fields, field{"links", "every link created before " + rep.BackupCreated.UTC().Format(time.RFC3339) + " is suspended until its sender confirms it"})
	}
	fields = append(fields, field{"next", "appliance serve --data " + dir})
	for _, o := range res.Others {
		fields = append(fields, field{"next", fmt.Sprintf("node %s: `appliance cluster token --replace %s --data %s` here, then `appliance join --replace %s --data DIR --disk PATH… --token TOKEN https://THIS-NODE:PORT` on its machine", o, o, dir, o)})
	}
	return printFields(out, fields)
}

// listOrNone joins ids, "none" when empty.
func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
