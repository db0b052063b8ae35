package main

import (
	"fmt"

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
	var (
		cf  clientFlags
		req adminapi.TokenCreateRequest
	)
	cmd := &cobra.Command{
		Use:   "create --data DIR --email E [--name LABEL]",
		Short: "Create a personal access token and print it, alone on the last line (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Email == "" {
				return usageError{fmt.Errorf("--email is required")}
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "token-id: %s (for %s, %q; revoke with `appliance token revoke --id %s`)\n", resp.ID, resp.Email, resp.Name, resp.ID)
			fmt.Fprintln(out, resp.Token)
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Email, "email", "", "the user's e-mail (required)")
	f.StringVar(&req.Name, "name", "cli", "a label for the token")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var (
		cf clientFlags
		id string
	)
	cmd := &cobra.Command{
		Use:   "revoke --data DIR --id ID",
		Short: "Revoke a personal access token: it stops working at once, on every node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return usageError{fmt.Errorf("--id is required")}
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked: %s\n", id)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the token's ID, as `token create` printed it (required)")
	return cmd
}
