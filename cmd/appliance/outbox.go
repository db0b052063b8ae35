package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newOutboxCmd() *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "outbox --data DIR [--json]",
		Short: "Print the mails kept (no relay configured) or waiting for the relay, with their bodies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			o, err := c.Outbox(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(o)
			}
			if len(o.Mails) == 0 {
				fmt.Fprintln(out, "outbox: no mail")
				return nil
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
				fmt.Fprintln(out, strings.TrimRight(m.Text, "\n"))
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the HTML bodies included)")
	return cmd
}
