package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create and revoke personal access tokens for the API",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var req adminapi.TokenCreateRequest
	cmd := newAdminCmd(&cobra.Command{
		Use:   "create --data DIR --email E [--name LABEL]",
		Short: "Create a personal access token and print it, alone on the last line (shown once)",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.TokenCreateResponse]{
		check: func([]string) error { return required("--email", req.Email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.TokenCreateResponse, error) {
			return c.CreateToken(cmd.Context(), req)
		},
		text: func(out io.Writer, resp adminapi.TokenCreateResponse) error {
			fmt.Fprintf(out, "token-id: %s (for %s, %q; revoke with `appliance token revoke --id %s`)\n", resp.ID, resp.Email, resp.Name, resp.ID)
			_, err := fmt.Fprintln(out, resp.Token)
			return err
		},
	})
	f := cmd.Flags()
	f.StringVar(&req.Email, "email", "", "the user's e-mail (required)")
	f.StringVar(&req.Name, "name", "cli", "a label for the token")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var id string
	cmd := newAdminCmd(&cobra.Command{
		Use:   "revoke --data DIR --id ID",
		Short: "Revoke a personal access token: it stops working at once, on every node",
		Args:  cobra.NoArgs,
	}, adminCall[string]{
		check: func([]string) error { return required("--id", id) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (string, error) {
			return id, c.RevokeToken(cmd.Context(), id)
		},
		text: func(out io.Writer, id string) error {
			_, err := fmt.Fprintf(out, "revoked: %s\n", id)
			return err
		},
	})
	cmd.Flags().StringVar(&id, "id", "", "the token's ID, as `token create` printed it (required)")
	return cmd
}
