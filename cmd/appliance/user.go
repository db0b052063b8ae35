package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newUserAddCmd(), newUserDisableCmd(true), newUserDisableCmd(false))
	return cmd
}

// newUserDisableCmd is `user disable` (disable true) or `user enable`.
func newUserDisableCmd(disable bool) *cobra.Command {
	var (
		cf    clientFlags
		email string
	)
	verb, short := "enable", "Enable a disabled user again"
	if disable {
		verb, short = "disable", "Disable a user: their password, sessions and tokens stop working at once, on every node"
	}
	cmd := &cobra.Command{
		Use:   verb + " --data DIR --email E",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if email == "" {
				return usageError{fmt.Errorf("--email is required")}
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			u, err := c.SetUserDisabled(cmd.Context(), email, disable)
			if err != nil {
				return err
			}
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user: %s (%s) %s\n", u.Email, u.ID, state)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail (required)")
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var (
		cf  clientFlags
		req adminapi.UserAddRequest
	)
	cmd := &cobra.Command{
		Use:   "add --data DIR --email E [--role supervisor|manager|user] [--lang fr|en]",
		Short: "Create a user and print its first password (shown once)",
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
			resp, err := c.AddUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "user: %s (%s, %s, %s)\n", resp.Email, resp.ID, resp.Role, resp.Lang)
			fmt.Fprintf(out, "password: %s\n", resp.Password)
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Email, "email", "", "the user's e-mail (required)")
	f.StringVar(&req.Name, "name", "", "the user's display name")
	f.StringVar(&req.Role, "role", "user", "supervisor, manager or user")
	f.StringVar(&req.Lang, "lang", "fr", "fr or en")
	return cmd
}
