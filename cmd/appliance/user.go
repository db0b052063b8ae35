package main

import (
	"fmt"
	"io"

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
	cmd.AddCommand(newUserCmds()...) // usercmds.go
	return cmd
}

// newUserDisableCmd is `user disable` (disable true) or `user enable`.
func newUserDisableCmd(disable bool) *cobra.Command {
	var email string
	verb, short := "enable", "Enable a disabled user again"
	if disable {
		verb, short = "disable", "Disable a user: their password, sessions and tokens stop working at once, on every node"
	}
	cmd := newAdminCmd(&cobra.Command{
		Use:   verb + " --data DIR --email E",
		Short: short,
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserInfo]{
		check: func([]string) error { return required("--email", email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserInfo, error) {
			return c.SetUserDisabled(cmd.Context(), email, disable)
		},
		text: func(out io.Writer, u adminapi.UserInfo) error {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			_, err := fmt.Fprintf(out, "user: %s (%s) %s\n", u.Email, u.ID, state)
			return err
		},
	})
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail (required)")
	return cmd
}

func newUserAddCmd() *cobra.Command {
	var req adminapi.UserAddRequest
	cmd := newAdminCmd(&cobra.Command{
		Use:   "add --data DIR --email E [--role supervisor|manager|user] [--lang fr|en]",
		Short: "Create a user and print its first password (shown once)",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserAddResponse]{
		check: func([]string) error { return required("--email", req.Email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserAddResponse, error) {
			return c.AddUser(cmd.Context(), req)
		},
		text: func(out io.Writer, resp adminapi.UserAddResponse) error {
			return printFields(out, []field{
				{"user", fmt.Sprintf("%s (%s, %s, %s)", resp.Email, resp.ID, resp.Role, resp.Lang)},
				{"password", resp.Password},
			})
		},
	})
	f := cmd.Flags()
	f.StringVar(&req.Email, "email", "", "the user's e-mail (required)")
	f.StringVar(&req.Name, "name", "", "the user's display name")
	f.StringVar(&req.Role, "role", "user", "supervisor, manager or user")
	f.StringVar(&req.Lang, "lang", "fr", "fr or en")
	return cmd
}
