package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Renew the cluster CA with name constraints, and end the transition",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCARenewCmd(), newCAEndTransitionCmd())
	return cmd
}

func newCARenewCmd() *cobra.Command {
	var (
		cf     clientFlags
		req    adminapi.CARenewRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "renew --data DIR [--domain D...] [--permit-ip CIDR...]",
		Short: "Replace the cluster CA by one that may certify only the organisation's names",
		Long: `renew replaces the cluster CA of a running node by a new one with X.509 name constraints: it may
certify only localhost, the organisation's domains (--domain, default the domain of the node's
--advertise name), the private addresses and the --permit-ip ranges. It prints the new CA's
fingerprint: users install the new ca.pem (served at /ca.pem) and check it. The HTTPS
certificates are re-issued by the new CA at once; the old CA stays trusted and in ca.pem until
` + "`appliance ca end-transition`" + `. Its private key is deleted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			info, err := c.RenewCA(cmd.Context(), req)
			if err != nil {
				return err
			}
			return printCAInfo(cmd.OutOrStdout(), info, asJSON)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&req.Domains, "domain", nil, "a DNS domain the new CA may certify (with its subdomains); repeat for each")
	f.StringArrayVar(&req.PermitIPs, "permit-ip", nil, "an address or CIDR range the new CA may certify besides the private ones; repeat for each")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newCAEndTransitionCmd() *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "end-transition --data DIR",
		Short: "Stop trusting and serving the CAs that ca renew replaced",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			info, err := c.EndCATransition(cmd.Context())
			if err != nil {
				return err
			}
			return printCAInfo(cmd.OutOrStdout(), info, asJSON)
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// printCAInfo prints what ca renew and ca end-transition answer.
func printCAInfo(out io.Writer, info adminapi.CAInfo, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(out, "ca-certificate: %s\n", info.CAPath)
	fmt.Fprintf(out, "ca-fingerprint: %s\n", info.Fingerprint)
	fmt.Fprintf(out, "ca-fingerprint-hex: %s\n", info.FingerprintHex)
	fmt.Fprintf(out, "ca-permitted: %s\n", strings.Join(info.Permitted, ", "))
	for _, fp := range info.Trusted[min(1, len(info.Trusted)):] {
		fmt.Fprintf(out, "still-trusted: %s\n", fp)
	}
	for _, n := range info.Reissued {
		fmt.Fprintf(out, "reissued: %s\n", n)
	}
	for _, n := range info.Refused {
		fmt.Fprintf(out, "not-reissued: %s\n", n)
	}
	return nil
}
