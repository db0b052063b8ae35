package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"valise/adminapi"
	"valise/internal/newfile"
)

// The users' commands of issue 20: list, show, edit, delete, reset-password, import.

func newUserCmds() []*cobra.Command {
	return []*cobra.Command{newUserListCmd(), newUserShowCmd(), newUserEditCmd(), newUserDeleteCmd(),
		newUserResetPasswordCmd(), newUserImportCmd()}
}

func newUserListCmd() *cobra.Command {
	var q adminapi.UserQuery
	cmd := newAdminCmd(&cobra.Command{
		Use:   "list --data DIR [--query Q] [--role R] [--state active|disabled] [--json]",
		Short: "List the users, sorted by e-mail address",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserPage]{
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserPage, error) {
			// Every page, unless --limit asks for one.
			all := adminapi.UserPage{Users: []adminapi.UserInfo{}}
			pq := q
			if pq.Limit == 0 {
				pq.Limit = 1000
			}
			for {
				p, err := c.ListUsers(cmd.Context(), pq)
				if err != nil {
					return all, err
				}
				all.Users, all.Total = append(all.Users, p.Users...), p.Total
				pq.Offset += len(p.Users)
				if q.Limit > 0 || len(p.Users) == 0 || pq.Offset >= p.Total {
					return all, nil
				}
			}
		},
		text: func(out io.Writer, p adminapi.UserPage) error {
			var fs []field
			for _, u := range p.Users {
				fs = append(fs, field{"user", userLine(u)})
			}
			return printFields(out, append(fs, field{"total", strconv.Itoa(p.Total)}))
		},
		jsonUsage: "print the users as JSON",
	})
	f := cmd.Flags()
	f.StringVar(&q.Query, "query", "", "only the users whose e-mail address or name holds Q")
	f.StringVar(&q.Role, "role", "", "only the users of this role: supervisor, manager or user")
	f.StringVar(&q.State, "state", "", "only the active or disabled users")
	f.IntVar(&q.Offset, "offset", 0, "skip the first N users")
	f.IntVar(&q.Limit, "limit", 0, "at most N users (at most 1000; default: all)")
	return cmd
}

// userLine is a user on one line: "e-mail (name, role, lang, state)".
func userLine(u adminapi.UserInfo) string {
	parts := []string{u.Role, u.Lang, userState(u)}
	if u.Name != "" {
		parts = append([]string{u.Name}, parts...)
	}
	return fmt.Sprintf("%s (%s)", u.Email, strings.Join(parts, ", "))
}

func userState(u adminapi.UserInfo) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

// quotaText prints a quota: "default (X)", "none" or a size.
func quotaText(q, effective int64) string {
	eff := "none"
	if effective > 0 {
		eff = formatSize(effective)
	}
	switch {
	case q == adminapi.QuotaDefault:
		return "default (" + eff + ")"
	case q == 0:
		return "none"
	}
	return formatSize(q)
}

// printUser prints every field of u.
func printUser(out io.Writer, u adminapi.UserInfo) error {
	return printFields(out, []field{
		{"user", u.Email}, {"id", u.ID}, {"name", u.Name}, {"role", u.Role}, {"lang", u.Lang},
		{"state", userState(u)}, {"created", u.Created.UTC().Format("2006-01-02T15:04:05Z")},
		{"must change password", strconv.FormatBool(u.MustChangePassword)},
		{"quota", quotaText(u.QuotaBytes, u.EffectiveQuotaBytes)},
		{"used", formatSize(u.UsedBytes)}, {"sends", strconv.Itoa(u.Sends)},
	})
}

func newUserShowCmd() *cobra.Command {
	var email string
	cmd := newAdminCmd(&cobra.Command{
		Use:   "show --data DIR --email E [--json]",
		Short: "Show a user with their quota and storage usage",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserInfo]{
		check: func([]string) error { return required("--email", email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserInfo, error) {
			return c.GetUser(cmd.Context(), email)
		},
		text:      printUser,
		jsonUsage: "print the user as JSON",
	})
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail (required)")
	return cmd
}

// parseQuotaFlag parses --quota: "default", "none" or a size such as 10G.
func parseQuotaFlag(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "default":
		return adminapi.QuotaDefault, nil
	case "none":
		return 0, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, usageError{fmt.Errorf("--quota: %w, \"none\" or \"default\"", err)}
	}
	return n, nil
}

func newUserEditCmd() *cobra.Command {
	var (
		email, name, role, lang, quota string
		edit                           adminapi.UserEdit
	)
	var cmd *cobra.Command
	cmd = newAdminCmd(&cobra.Command{
		Use:   "edit --data DIR --email E [--name N] [--role R] [--lang L] [--quota 10G|default|none]",
		Short: "Change a user's name, role, language or storage quota",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserInfo]{
		check: func([]string) error {
			if err := required("--email", email); err != nil {
				return err
			}
			f := cmd.Flags()
			edit = adminapi.UserEdit{}
			if f.Changed("name") {
				edit.Name = &name
			}
			if f.Changed("role") {
				edit.Role = &role
			}
			if f.Changed("lang") {
				edit.Lang = &lang
			}
			if f.Changed("quota") {
				q, err := parseQuotaFlag(quota)
				if err != nil {
					return err
				}
				edit.QuotaBytes = &q
			}
			if edit == (adminapi.UserEdit{}) {
				return usageError{fmt.Errorf("give at least one of --name, --role, --lang, --quota")}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserInfo, error) {
			return c.EditUser(cmd.Context(), email, edit)
		},
		text:      printUser,
		jsonUsage: "print the user as changed, as JSON",
	})
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the user's e-mail (required)")
	f.StringVar(&name, "name", "", "the new display name")
	f.StringVar(&role, "role", "", "the new role: supervisor, manager or user")
	f.StringVar(&lang, "lang", "", "the new language: fr or en")
	f.StringVar(&quota, "quota", "", "the storage quota: a size such as 10G, none, or default (the quota.user_bytes setting)")
	return cmd
}

func newUserDeleteCmd() *cobra.Command {
	var (
		email string
		req   adminapi.UserDeleteRequest
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "delete --data DIR --email E [--keep-sends]",
		Short: "Delete a user: their sends are revoked and their files deleted, unless --keep-sends",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserDeleteResult]{
		check: func([]string) error { return required("--email", email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserDeleteResult, error) {
			return c.DeleteUser(cmd.Context(), email, req)
		},
		text: func(out io.Writer, r adminapi.UserDeleteResult) error {
			return printFields(out, []field{
				{"deleted", r.Email}, {"sends revoked", strconv.Itoa(r.SendsRevoked)},
				{"sends kept", strconv.Itoa(r.SendsKept)}, {"files deleted", strconv.Itoa(r.FilesDeleted)},
				{"freed", formatSize(r.BytesFreed)},
			})
		},
		jsonUsage: "print what was deleted as JSON",
	})
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the user's e-mail (required)")
	f.BoolVar(&req.KeepSends, "keep-sends", false, "keep their links working until they expire")
	return cmd
}

func newUserResetPasswordCmd() *cobra.Command {
	var email string
	cmd := newAdminCmd(&cobra.Command{
		Use:   "reset-password --data DIR --email E",
		Short: "Give a user a new generated password (shown once), to change at the next login; their sessions and tokens end",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.UserAddResponse]{
		check: func([]string) error { return required("--email", email) },
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserAddResponse, error) {
			return c.ResetPassword(cmd.Context(), email)
		},
		text: func(out io.Writer, r adminapi.UserAddResponse) error {
			return printFields(out, []field{{"user", fmt.Sprintf("%s (%s)", r.Email, r.ID)}, {"password", r.Password}})
		},
	})
	cmd.Flags().StringVar(&email, "email", "", "the user's e-mail (required)")
	return cmd
}

func newUserImportCmd() *cobra.Command {
	var (
		req       adminapi.UserImportRequest
		passwords string
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "import --data DIR FILE [--dry-run] [--update] [--passwords FILE]",
		Short: "Create users from a CSV file (columns email, name, role, lang, quota); --dry-run only checks",
		Long: "Create users from a CSV file whose header names the columns among email (required), name, " +
			"role, lang and quota (10G, none; empty: the default), separated by , or ;. Every line is " +
			"checked first; the refused ones are listed with their line numbers and the others applied. " +
			"The new users' first passwords are printed, or written to --passwords FILE (mode 0600) as " +
			"email,password lines.",
		Args: cobra.ArbitraryArgs,
	}, adminCall[adminapi.UserImportReport]{
		check: func(args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("user import takes one argument: the CSV file")}
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read the users to import: %w", err)
			}
			if len(b) > adminapi.MaxImportBytes {
				return fmt.Errorf("%s: %s, at most %s per import: split it", args[0], formatSize(int64(len(b))), formatSize(adminapi.MaxImportBytes))
			}
			req.CSV = string(b)
			if passwords != "" {
				if _, err := os.Lstat(passwords); err == nil {
					return usageError{fmt.Errorf("--passwords %s exists already: give a new file", passwords)}
				}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.UserImportReport, error) {
			rep, err := c.ImportUsers(cmd.Context(), req)
			if err != nil || passwords == "" || len(rep.Passwords) == 0 {
				return rep, err
			}
			if err := writePasswords(passwords, rep.Passwords); err != nil {
				return rep, err
			}
			rep.Passwords = nil // in the file only
			return rep, nil
		},
		text: func(out io.Writer, r adminapi.UserImportReport) error {
			fs := []field{
				{"dry run", strconv.FormatBool(r.DryRun)}, {"lines", strconv.Itoa(r.Lines)},
				{"created", strconv.Itoa(r.Created)}, {"updated", strconv.Itoa(r.Updated)},
				{"unchanged", strconv.Itoa(r.Unchanged)}, {"failed", strconv.Itoa(len(r.Failed))},
			}
			if r.DryRun {
				for _, p := range r.Preview {
					line := fmt.Sprintf("line %d: %s %s", p.Line, p.Action, p.Email)
					if p.Action != "error" {
						line += fmt.Sprintf(" (%s, %s, %s, quota %s)", p.Name, p.Role, p.Lang, quotaText(p.QuotaBytes, 0))
					}
					fs = append(fs, field{"preview", line})
				}
			}
			for _, f := range r.Failed {
				fs = append(fs, field{"refused", fmt.Sprintf("line %d: %s: %s", f.Line, f.Email, f.Error)})
			}
			if passwords != "" && r.Created > 0 && !r.DryRun {
				fs = append(fs, field{"passwords", passwords})
			}
			for _, p := range r.Passwords {
				fs = append(fs, field{"password", p.Email + " " + p.Password})
			}
			if err := printFields(out, fs); err != nil {
				return err
			}
			if len(r.Failed) > 0 {
				done := "applied"
				if r.DryRun {
					done = "checked"
				}
				return fmt.Errorf("%d lines refused (the others were %s)", len(r.Failed), done)
			}
			return nil
		},
		jsonUsage: "print the report as JSON",
	})
	f := cmd.Flags()
	f.BoolVar(&req.DryRun, "dry-run", false, "check every line and report, creating nothing")
	f.BoolVar(&req.Update, "update", false, "change the name, role, language and quota of users that exist already")
	f.StringVar(&passwords, "passwords", "", "write the new users' first passwords to this file (mode 0600) instead of printing them")
	return cmd
}

// writePasswords writes the first passwords as CSV "email,password" lines to a new file of
// mode 0600 (an existing one is refused: passwords are never overwritten by mistake).
func writePasswords(path string, pws []adminapi.ImportPassword) error {
	err := newfile.Write(path, func(w io.Writer) error { return adminapi.WritePasswordsCSV(w, pws) })
	if err != nil {
		return fmt.Errorf("users imported, but their passwords could not be saved (%w): run user reset-password for them", err)
	}
	return nil
}
