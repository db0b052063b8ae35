package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"valise/node"
)

func newJoinCmd() *cobra.Command {
	var (
		opts   node.JoinOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "join --data DIR --site NAME --token T [--disks N | --disk PATH...] [--replace NODE] URL",
		Short: "Make an empty directory a new node of a running cluster",
		Long: "join makes the empty DIR a new node of the cluster that the node at URL (https://host:port, any node)\n" +
			"belongs to. It checks that node's CA against the token's fingerprint before it sends anything, has the\n" +
			"cluster admit the node (the token is spent), receives the cluster's keys over mutual TLS and writes the\n" +
			"configuration, the keys and the disk directories. Then run `appliance serve --data DIR`: the leader adds\n" +
			"the node to the cluster. The cluster port and the HTTPS port must be fixed (not 0).\n" +
			"--replace NODE makes DIR a new incarnation of a member whose data directory was lost: same node ID, new\n" +
			"disks (heal refills them), with a token from `cluster token --replace NODE`.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required("--data DIR", opts.DataDir); err != nil {
				return err
			}
			if err := required("--token", opts.Token); err != nil {
				return err
			}
			if cmd.Flags().Changed("disks") && len(opts.DiskPaths) > 0 {
				return usageError{fmt.Errorf("give --disks or --disk, not both")}
			}
			opts.URL = args[0]
			res, err := node.Join(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return printAnswer(cmd.OutOrStdout(), res, asJSON, printJoin)
		},
	}
	addDataFlag(cmd, &opts.DataDir)
	cmd.Flags().StringVar(&opts.Token, "token", "", "the token `appliance cluster token` printed (required)")
	cmd.Flags().StringVar(&opts.Replace, "replace", "", "join as this member (its node ID), whose data directory was lost")
	addNewNodeFlags(cmd, newNodeFlags{&opts.Disks, &opts.DiskPaths, &opts.Site, &opts.Listen, &opts.ClusterListen, &opts.Advertise, &opts.AdminSocket})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// newNodeFlags point to what the flags of a command making a new node (init, join) set.
type newNodeFlags struct {
	disks                                               *int
	diskPaths                                           *[]string
	site, listen, clusterListen, advertise, adminSocket *string
}

// addNewNodeFlags adds to cmd the flags that init and join share: the node's disks, site,
// addresses and admin socket.
func addNewNodeFlags(cmd *cobra.Command, p newNodeFlags) {
	f := cmd.Flags()
	f.IntVar(p.disks, "disks", 6, "how many disk directories to create under DIR/disks")
	f.StringArrayVar(p.diskPaths, "disk", nil, "a disk directory (a mount point); repeat for each disk")
	f.StringVar(p.site, "site", "default", "the site (data centre) this node stands in")
	f.StringVar(p.listen, "listen", ":8443", "the HTTPS address, host:port")
	f.StringVar(p.clusterListen, "cluster-listen", ":8444", "the cluster (mTLS) address, host:port")
	f.StringVar(p.advertise, "advertise", "", "the host peers reach this node at (default: the cluster listen IP, or the first non-loopback address)")
	f.StringVar(p.adminSocket, "admin-socket", "", "the admin socket to record in the configuration (default DIR/admin.sock)")
}

// printJoin prints what join did.
func printJoin(out io.Writer, res node.JoinResult) error {
	return printFields(out, []field{
		{"node-id", res.NodeID},
		{"config", res.ConfigPath},
		{"cluster-id", res.ClusterID},
		{"ca-fingerprint", res.CAFingerprint},
		{"members", strings.Join(res.Members, ", ")},
		{"next", "appliance serve --data " + filepath.Dir(res.ConfigPath) + " (the leader then adds this node to the cluster)"},
	})
}
