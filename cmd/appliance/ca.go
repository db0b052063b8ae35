package main

import (
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
	var req adminapi.CARenewRequest
	cmd := newAdminCmd(&cobra.Command{
		Use:   "renew --data DIR [--domain D...] [--permit-ip CIDR...]",
		Short: "Replace the cluster CA by one that may certify only the organisation's names",
		Long: `renew replaces the cluster CA of a running node by a new one with X.509 name constraints: it may
certify only localhost, the organisation's domains (--domain, default the domain of the node's
--advertise name), the private addresses and the --permit-ip ranges. It prints the new CA's
fingerprint: users install the new ca.pem (served at /ca.pem) and check it. The HTTPS
certificates are re-issued by the new CA at once; the old CA stays trusted and in ca.pem until
` + "`appliance ca end-transition`" + `. Its private key is deleted.`,
		Args: cobra.NoArgs,
	}, adminCall[adminapi.CAInfo]{
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.CAInfo, error) {
			return c.RenewCA(cmd.Context(), req)
		},
		text:      printCAInfo,
		jsonUsage: "print the result as JSON",
	})
	f := cmd.Flags()
	f.StringArrayVar(&req.Domains, "domain", nil, "a DNS domain the new CA may certify (with its subdomains); repeat for each")
	f.StringArrayVar(&req.PermitIPs, "permit-ip", nil, "an address or CIDR range the new CA may certify besides the private ones; repeat for each")
	return cmd
}

func newCAEndTransitionCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "end-transition --data DIR",
		Short: "Stop trusting and serving the CAs that ca renew replaced",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.CAInfo]{
		call:      plainCall((*adminapi.Client).EndCATransition),
		text:      printCAInfo,
		jsonUsage: "print the result as JSON",
	})
}

// printCAInfo prints what ca renew and ca end-transition answer.
func printCAInfo(out io.Writer, info adminapi.CAInfo) error {
	fields := []field{
		{"ca-certificate", info.CAPath},
		{"ca-fingerprint", info.Fingerprint},
		{"ca-fingerprint-hex", info.FingerprintHex},
		{"ca-permitted", strings.Join(info.Permitted, ", ")},
	}
	fields = append(fields, each("still-trusted", info.Trusted[min(1, len(info.Trusted)):])...)
	fields = append(fields, each("reissued", info.Reissued)...)
	fields = append(fields, each("not-reissued", info.Refused)...)
	return printFields(out, fields)
}
