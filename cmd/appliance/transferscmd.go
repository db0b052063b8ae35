package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newTransfersCmd is `appliance transfers`: every user's sends and uploads in progress.
func newTransfersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transfers",
		Short: "List, show and revoke the sends of every user",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTransfersListCmd(), newTransfersShowCmd(), newTransfersRevokeCmd())
	return cmd
}

func newTransfersListCmd() *cobra.Command {
	var q adminapi.TransferQuery
	cmd := newAdminCmd(&cobra.Command{
		Use:   "list --data DIR [--user E] [--state S] [--kind send|upload] [-q TEXT] [--limit N] [--offset N] [--json]",
		Short: "List the sends and uploads in progress of every user, newest first",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.TransferPage]{
		check: func([]string) error {
			if q.Limit < 1 || q.Limit > 1000 || q.Offset < 0 {
				return usageError{errors.New("--limit must be from 1 to 1000 and --offset not negative")}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.TransferPage, error) {
			return c.ListTransfers(cmd.Context(), q)
		},
		text:      printTransfers,
		jsonUsage: "print the page as JSON",
	})
	f := cmd.Flags()
	f.StringVar(&q.User, "user", "", "only this user's (e-mail address)")
	f.StringVar(&q.State, "state", "", "only in this state: active, waiting, expired, revoked, suspended or uploading")
	f.StringVar(&q.Kind, "kind", "", "only sends (send) or uploads in progress (upload)")
	f.StringVarP(&q.Query, "query", "q", "", "only those whose subject, a file name or a recipient holds this")
	f.IntVar(&q.Limit, "limit", 100, "the most to print (1 to 1000)")
	f.IntVar(&q.Offset, "offset", 0, "skip this many first")
	return cmd
}

func printTransfers(out io.Writer, p adminapi.TransferPage) error {
	if len(p.Transfers) == 0 {
		_, err := fmt.Fprintln(out, "transfers: none")
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tOWNER\tSTATE\tCREATED\tFILES\tSIZE\tTO\tSUBJECT")
	for _, t := range p.Transfers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", t.ID, t.Kind, t.Owner, t.State, t.Created.UTC().Format(time.RFC3339),
			t.Files, formatSize(t.Bytes), t.Recipients, t.Subject)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%d of %d\n", len(p.Transfers), p.Total)
	return err
}

// oneID checks that a command got exactly one argument, the ID of what it acts on.
func oneID(cmdline, what string) func([]string) error {
	return func(args []string) error {
		if len(args) != 1 || args[0] == "" {
			return usageError{fmt.Errorf("%s takes one argument: the ID of the %s", cmdline, what)}
		}
		return nil
	}
}

func newTransfersShowCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "show --data DIR ID [--json]",
		Short: "Show a send with its files, options and the state of each recipient",
		Args:  cobra.ArbitraryArgs,
	}, adminCall[adminapi.TransferDetail]{
		check: oneID("transfers show", "send"),
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.TransferDetail, error) {
			return c.GetTransfer(cmd.Context(), args[0])
		},
		text:      printTransfer,
		jsonUsage: "print the send as JSON",
	})
}

func printTransfer(out io.Writer, d adminapi.TransferDetail) error {
	fields := []field{
		{"send", d.ID}, {"owner", d.Owner}, {"subject", d.Subject}, {"state", d.State},
		{"created", d.Created.UTC().Format(time.RFC3339)}, {"expires", d.Expires.UTC().Format(time.RFC3339)},
		{"options", fmt.Sprintf("password %v, download limit %d, delete after download %v, receipts %v, e-mail code %v",
			d.Password, d.DownloadLimit, d.DeleteAfter, d.Receipt, d.EmailCode)},
	}
	for _, f := range d.Files {
		fields = append(fields, field{"file", fmt.Sprintf("%s (%s, %s, sha256 %s)", f.Name, formatSize(f.Size), f.Verdict, f.SHA256)})
	}
	for _, r := range d.Recipients {
		v := fmt.Sprintf("%s: notified %v, opened %v, %d downloads", r.Email, r.Notified, r.Opened, r.Downloads)
		if !r.LastDownload.IsZero() {
			v += ", last " + r.LastDownload.UTC().Format(time.RFC3339)
		}
		fields = append(fields, field{"recipient", v})
	}
	return printFields(out, fields)
}

func newTransfersRevokeCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "revoke --data DIR ID",
		Short: "Revoke a send at once, on every node: its links stop working (journalled with who revoked it)",
		Args:  cobra.ArbitraryArgs,
	}, adminCall[adminapi.TransferInfo]{
		check: oneID("transfers revoke", "send"),
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.TransferInfo, error) {
			return c.RevokeTransfer(cmd.Context(), args[0])
		},
		text: func(out io.Writer, t adminapi.TransferInfo) error {
			_, err := fmt.Fprintf(out, "transfer: %s of %s %s\n", t.ID, t.Owner, t.State)
			return err
		},
	})
}
