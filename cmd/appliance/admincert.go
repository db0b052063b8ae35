package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newAdminGroupCmd is `appliance admin`: the administrators' own credentials (issue 20).
func newAdminGroupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administrators' certificates for the admin port (console --url ... --cert DIR)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAdminCertCmd())
	return cmd
}

// newAdminCertCmd is `admin cert --out DIR --name NAME --role R`, with `revoke` and `list`.
func newAdminCertCmd() *cobra.Command {
	var out, name, role string
	cmd := newAdminCmd(&cobra.Command{
		Use:   "cert --data DIR --out DIR --name NAME --role supervisor|manager",
		Short: "Issue an admin certificate: writes DIR/cert.pem, DIR/key.pem (0600) and DIR/ca.pem",
		Long: "admin cert has the node's cluster CA certify a fresh key for an administrator's workstation,\n" +
			"for the admin port (serve --admin-listen, mutual TLS): `console --url https://NODE:8445 --cert DIR`.\n" +
			"A supervisor may do everything; a manager may read everything and act on users, tokens and\n" +
			"transfers. The key never leaves this machine; the certificate is recorded and journalled in the\n" +
			"cluster, and `admin cert revoke NAME` ends it at once, on every node.",
		Args: cobra.NoArgs,
	}, adminCall[adminapi.AdminCertIssued]{
		check: func([]string) error {
			for _, f := range []struct{ flag, v string }{{"--out DIR", out}, {"--name", name}, {"--role", role}} {
				if err := required(f.flag, f.v); err != nil {
					return err
				}
			}
			if role != adminapi.RoleSupervisor && role != adminapi.RoleManager {
				return usageError{fmt.Errorf("--role %q: want supervisor or manager", role)}
			}
			if _, err := os.Stat(filepath.Join(out, adminapi.KeyFile)); err == nil {
				return usageError{fmt.Errorf("%s exists already: choose another --out directory", filepath.Join(out, adminapi.KeyFile))}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.AdminCertIssued, error) {
			req, keyPEM, err := adminapi.NewAdminCertRequest(name, role)
			if err != nil {
				return adminapi.AdminCertIssued{}, err
			}
			issued, err := c.IssueAdminCert(cmd.Context(), req)
			if err != nil {
				return issued, err
			}
			return issued, adminapi.WriteAdminCertDir(out, keyPEM, issued)
		},
		text: func(w io.Writer, c adminapi.AdminCertIssued) error {
			return printFields(w, []field{
				{"name", c.Name}, {"role", c.Role}, {"serial", c.Serial},
				{"expires", c.Expires.Format(time.RFC3339)},
				{"cert", filepath.Join(out, adminapi.CertFile)},
				{"key", filepath.Join(out, adminapi.KeyFile)},
				{"ca", filepath.Join(out, adminapi.CAFile)},
			})
		},
		jsonUsage: "print the certificate's record as JSON (with the PEM certificate and CA)",
	})
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "the directory to write cert.pem, key.pem and ca.pem to (required)")
	f.StringVar(&name, "name", "", "the administrator's name: lower-case letters, digits, '-', '_', '.' (required)")
	f.StringVar(&role, "role", "", "supervisor or manager (required)")
	cmd.AddCommand(newAdminCertRevokeCmd(), newAdminCertListCmd())
	return cmd
}

func newAdminCertRevokeCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "revoke --data DIR NAME",
		Short: "Revoke an admin certificate: refused at once, on every node",
		Args:  cobra.ExactArgs(1),
	}, adminCall[adminapi.AdminCert]{
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.AdminCert, error) {
			return c.RevokeAdminCert(cmd.Context(), args[0])
		},
		text: func(w io.Writer, c adminapi.AdminCert) error {
			return printFields(w, []field{{"revoked", c.Name}, {"serial", c.Serial}})
		},
		jsonUsage: "print the revoked certificate's record as JSON",
	})
}

func newAdminCertListCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "list --data DIR [--json]",
		Short: "List the admin certificates the cluster issued",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.AdminCertList]{
		call: plainCall((*adminapi.Client).AdminCerts),
		text: func(w io.Writer, l adminapi.AdminCertList) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED\tEXPIRES\tSERIAL")
			for _, c := range l.Certs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Role, c.State,
					c.Created.Format(time.DateOnly), c.Expires.Format(time.DateOnly), c.Serial)
			}
			return tw.Flush()
		},
		jsonUsage: "print the list as JSON",
	})
}
