package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"valise/node"
)

func newInitCmd() *cobra.Command {
	var (
		opts     node.InitOptions
		asJSON   bool
		settings []string
	)
	cmd := &cobra.Command{
		Use:   "init --data DIR [--disks N | --disk PATH...]",
		Short: "Create a one-node cluster in an empty directory",
		Long: "init creates a one-node cluster in an empty DIR: its configuration DIR/valise.toml, the cluster keys,\n" +
			"the metadata stores, N disk directories under DIR/disks (or the given paths) and the first administrator.\n" +
			"It prints the administrator's e-mail and password (shown once) and the cluster CA's fingerprint.\n" +
			"The cluster CA may certify only localhost, the organisation's domains (--domain) and private or\n" +
			"permitted (--permit-ip) addresses: X.509 name constraints that every browser enforces.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("--data DIR", opts.DataDir); err != nil {
				return err
			}
			if cmd.Flags().Changed("disks") && len(opts.DiskPaths) > 0 {
				return usageError{fmt.Errorf("give --disks or --disk, not both")}
			}
			for _, kv := range settings {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--setting %q: want KEY=VALUE", kv)}
				}
				if opts.Settings == nil {
					opts.Settings = map[string]string{}
				}
				opts.Settings[k] = v
			}
			res, err := node.Init(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return printAnswer(cmd.OutOrStdout(), res, asJSON, printInit)
		},
	}
	f := cmd.Flags()
	addDataFlag(cmd, &opts.DataDir)
	addNewNodeFlags(cmd, newNodeFlags{&opts.Disks, &opts.DiskPaths, &opts.Site, &opts.Listen, &opts.ClusterListen, &opts.Advertise, &opts.AdminSocket})
	f.StringVar(&opts.AdminEmail, "admin-email", "admin@valise.local", "the first administrator's e-mail")
	f.StringArrayVar(&opts.Domains, "domain", nil, "a DNS domain the cluster CA may certify (with its subdomains); repeat for each (default: the domain of --advertise)")
	f.StringArrayVar(&opts.PermitIPs, "permit-ip", nil, "an address or CIDR range the cluster CA may certify besides the private ones; repeat for each")
	f.StringArrayVar(&settings, "setting", nil, "seed a cluster-wide setting, KEY=VALUE; repeat for each")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// printInit prints what init did, the administrator's first password among it.
func printInit(out io.Writer, res node.InitResult) error {
	fields := []field{
		{"node-id", res.NodeID},
		{"config", res.ConfigPath},
		{"ca-certificate", res.CAPath},
		{"admin-email", res.AdminEmail},
		{"admin-password", res.AdminPassword},
		{"ca-fingerprint", res.CAFingerprint},
		{"ca-permitted", strings.Join(res.CAPermitted, ", ")},
		{"signing-key", res.SigningKey}, // write it down: restore --expect-key checks backups against it
	}
	for _, name := range res.CANotPermitted {
		fields = append(fields, field{"ca-not-permitted", name + " (outside the CA's name constraints: no certificate will name it; see --domain, --permit-ip)"})
	}
	return printFields(out, fields)
}
