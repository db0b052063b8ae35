package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newOutboxCmd() *cobra.Command {
	cmd := newAdminCmd(&cobra.Command{
		Use:   "outbox --data DIR [--json]",
		Short: "Print the mails kept (no relay configured) or waiting for the relay, with their bodies",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.Outbox]{
		call:      plainCall((*adminapi.Client).Outbox),
		text:      printOutbox,
		jsonUsage: "print JSON (the HTML bodies included)",
	})
	cmd.AddCommand(newOutboxRetryCmd(), newOutboxDiscardCmd()) // mailcmd.go
	return cmd
}

// printOutbox prints each mail with its headers and text body.
func printOutbox(out io.Writer, o adminapi.Outbox) error {
	if len(o.Mails) == 0 {
		_, err := fmt.Fprintln(out, "outbox: no mail")
		return err
	}
	for i, m := range o.Mails {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "=== mail %s (%s, %s, %s)\n", m.ID, m.State, m.Kind, m.Created)
		fmt.Fprintf(out, "From: %s\n", m.From)
		for _, h := range []struct {
			name  string
			addrs []string
		}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}} {
			if len(h.addrs) > 0 {
				fmt.Fprintf(out, "%s: %s\n", h.name, strings.Join(h.addrs, ", "))
			}
		}
		fmt.Fprintf(out, "Subject: %s\n", m.Subject)
		if m.Error != "" {
			fmt.Fprintf(out, "Last-Error: %s (after %d attempts)\n", m.Error, m.Attempts)
		}
		fmt.Fprintln(out)
		if m.Text == "" {
			fmt.Fprintln(out, "(body dropped once delivered)")
			continue
		}
		if _, err := fmt.Fprintln(out, strings.TrimRight(m.Text, "\n")); err != nil {
			return err
		}
	}
	return nil
}
