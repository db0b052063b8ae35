package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newOutboxRetryCmd is `outbox retry ID`: a mail of the queue (or of the outbox, once a
// relay is set) queued again now.
func newOutboxRetryCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "retry --data DIR ID",
		Short: "Queue a pending or failed mail for delivery now (an outbox mail once a relay is set)",
		Args:  cobra.ArbitraryArgs,
	}, adminCall[adminapi.OutboxMail]{
		check: oneID("outbox retry", "mail"),
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.OutboxMail, error) {
			return c.RetryMail(cmd.Context(), args[0])
		},
		text: func(out io.Writer, m adminapi.OutboxMail) error {
			_, err := fmt.Fprintf(out, "mail: %s %s\n", m.ID, m.State)
			return err
		},
	})
}

// newOutboxDiscardCmd is `outbox discard ID`.
func newOutboxDiscardCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "discard --data DIR ID",
		Short: "Remove a mail from the outbox or the queue: it will never be sent",
		Args:  cobra.ArbitraryArgs,
	}, adminCall[string]{
		check: oneID("outbox discard", "mail"),
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (string, error) {
			return args[0], c.DiscardMail(cmd.Context(), args[0])
		},
		text: func(out io.Writer, id string) error {
			_, err := fmt.Fprintf(out, "mail: %s discarded\n", id)
			return err
		},
	})
}

// newMailCmd is `appliance mail`, with `mail test`.
func newMailCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Check the mail relay",
		Args:  cobra.NoArgs,
	}
	var req adminapi.MailTestRequest
	test := newAdminCmd(&cobra.Command{
		Use:   "test --data DIR --to E [--lang fr|en] [--json]",
		Short: "Send a test mail through the configured SMTP relay now, and say how the relay answered",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.MailTestResult]{
		check: func([]string) error { return required("--to", req.To) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.MailTestResult, error) {
			return c.TestMail(cmd.Context(), req)
		},
		text: func(out io.Writer, r adminapi.MailTestResult) error {
			if !r.OK {
				fmt.Fprintf(out, "mail: not sent (%s)\n", r.Detail)
				return fmt.Errorf("the test mail was not sent: %s", r.Error)
			}
			_, err := fmt.Fprintf(out, "mail: sent to %s through %s\n", req.To, r.Detail)
			return err
		},
		jsonUsage: "print the result as JSON",
	})
	test.Flags().StringVar(&req.To, "to", "", "the address to send the test mail to (required)")
	test.Flags().StringVar(&req.Lang, "lang", "fr", "the test mail's language: fr or en")
	cmd.AddCommand(test)
	return cmd
}

// newBackupNowCmd is `backup now`: a backup written by the node into backup.dir now.
func newBackupNowCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "now --data DIR [--json]",
		Short: "Have the node write a backup into backup.dir now, encrypted to backup.recipient, as the schedule does",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.BackupRecord]{
		call: plainCall((*adminapi.Client).BackupNow),
		text: func(out io.Writer, r adminapi.BackupRecord) error {
			return printFields(out, []field{
				{"backup", r.Path},
				{"size", fmt.Sprintf("%d bytes (%s)", r.Size, formatSize(r.Size))},
				{"sha256", r.SHA256},
				{"index", fmt.Sprint(r.Index)},
			})
		},
		jsonUsage: "print the record as JSON",
	})
}
