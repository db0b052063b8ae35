package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestAdminCommandsShape checks that every command that talks to the running node has the one
// frame newAdminCmd gives (issue 17, "Done when": no logic written twice), and so keeps the rules
// docs/design.md ("Rules shared by all commands") sets: --data and --admin-socket, exit 2 without
// --data, "node not running" and exit 3 when no node answers, nothing on stdout but what it
// says it asks before the node answered. A command added to the tree without a row here fails the test.
func TestAdminCommandsShape(t *testing.T) {
	cases := []struct {
		path []string // the command's words
		args []string // besides --data: what passes its own checks
		json bool     // it takes --json
		// preface is what it prints before the node answers (selftest says what it asks).
		preface string
	}{
		{path: []string{"status"}, json: true},
		{path: []string{"selftest"}, preface: "selftest: 64.0 MiB\n"},
		{path: []string{"journal", "verify"}, json: true},
		{path: []string{"settings", "get"}, json: true},
		{path: []string{"settings", "set"}, args: []string{"scan.policy", "hold"}},
		{path: []string{"user", "add"}, args: []string{"--email", "a@example.org"}},
		{path: []string{"user", "disable"}, args: []string{"--email", "a@example.org"}},
		{path: []string{"user", "enable"}, args: []string{"--email", "a@example.org"}},
		{path: []string{"user", "list"}, json: true},
		{path: []string{"user", "show"}, args: []string{"--email", "a@example.org"}, json: true},
		{path: []string{"user", "edit"}, args: []string{"--email", "a@example.org", "--quota", "10G"}, json: true},
		{path: []string{"user", "delete"}, args: []string{"--email", "a@example.org"}, json: true},
		{path: []string{"user", "reset-password"}, args: []string{"--email", "a@example.org"}},
		{path: []string{"user", "import"}, args: []string{importCSV(t)}, json: true},
		{path: []string{"token", "create"}, args: []string{"--email", "a@example.org"}},
		{path: []string{"token", "revoke"}, args: []string{"--id", "tok1"}},
		{path: []string{"outbox"}, json: true},
		{path: []string{"ca", "renew"}, json: true},
		{path: []string{"ca", "end-transition"}, json: true},
		{path: []string{"admin", "cert"}, args: []string{"--out", filepath.Join(t.TempDir(), "c"), "--name", "a", "--role", "manager"}, json: true},
		{path: []string{"admin", "cert", "revoke"}, args: []string{"a"}, json: true},
		{path: []string{"admin", "cert", "list"}, json: true},
		{path: []string{"heal"}, json: true},
		{path: []string{"scrub"}, json: true},
		{path: []string{"rebalance"}, json: true},
		{path: []string{"cluster", "remove"}, args: []string{"n-2"}, json: true},
		{path: []string{"leave"}, json: true},
		{path: []string{"cluster", "token"}, json: true},
		{path: []string{"orphans"}, json: true},
		{path: []string{"orphans", "delete"}, json: true},
		{path: []string{"backup"}, args: []string{"--out", filepath.Join(t.TempDir(), "b.age"), "--recipient", "age1x"}, json: true},
		{path: []string{"backup", "list"}, json: true},
		{path: []string{"backup", "now"}, json: true},
		{path: []string{"journal", "list"}, json: true},
		{path: []string{"journal", "export"}},
		{path: []string{"journal", "tail"}},
		{path: []string{"transfers", "list"}, json: true},
		{path: []string{"transfers", "show"}, args: []string{"s1"}, json: true},
		{path: []string{"transfers", "revoke"}, args: []string{"s1"}},
		{path: []string{"outbox", "retry"}, args: []string{"m1"}},
		{path: []string{"outbox", "discard"}, args: []string{"m1"}},
		{path: []string{"mail", "test"}, args: []string{"--to", "a@example.org"}, json: true},
	}
	// The commands that do not talk to a running node (docs/design.md).
	own := map[string]bool{"init": true, "serve": true, "join": true, "backup verify": true, "restore": true}

	var leaves []string
	var walk func(c *cobra.Command, words []string)
	walk = func(c *cobra.Command, words []string) {
		for _, sub := range c.Commands() {
			w := append(slices.Clone(words), sub.Name())
			if sub.HasSubCommands() {
				walk(sub, w)
			}
			if sub.Runnable() && !own[strings.Join(w, " ")] && sub.Name() != "help" && sub.Name() != "completion" {
				leaves = append(leaves, strings.Join(w, " ")) // backup runs and has subcommands
			}
		}
	}
	walk(newRootCmd(), nil)
	var listed []string
	for _, tc := range cases {
		listed = append(listed, strings.Join(tc.path, " "))
	}
	slices.Sort(leaves)
	slices.Sort(listed)
	if !slices.Equal(leaves, listed) {
		t.Fatalf("commands that talk to the node: %q; the table lists %q", leaves, listed)
	}

	empty := t.TempDir() // a data directory with no node: its admin.sock does not exist
	for _, tc := range cases {
		t.Run(strings.Join(tc.path, "_"), func(t *testing.T) {
			cmd, _, err := newRootCmd().Find(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, flag := range []string{"data", "admin-socket"} {
				if cmd.Flags().Lookup(flag) == nil {
					t.Errorf("no --%s", flag)
				}
			}
			if got := cmd.Flags().Lookup("json") != nil; got != tc.json {
				t.Errorf("--json: %v, want %v", got, tc.json)
			}
			for _, r := range []struct {
				name   string
				args   []string
				code   int
				stderr string
				stdout string
			}{
				{"no --data", nil, exitUsage, "appliance: --data DIR is required\n", ""},
				{"no data directory", []string{"--data", filepath.Join(empty, "missing")}, exitNotRunning, "appliance: node not running\n", ""},
				{"no node", []string{"--data", empty}, exitNotRunning, "appliance: node not running\n", tc.preface},
			} {
				var stdout, stderr bytes.Buffer
				args := slices.Concat(tc.path, tc.args, r.args)
				code := run(context.Background(), args, &stdout, &stderr)
				if code != r.code || stderr.String() != r.stderr || stdout.String() != r.stdout {
					t.Errorf("%s: %q: exit %d, stderr %q, stdout %q; want exit %d, stderr %q, stdout %q",
						r.name, args, code, stderr.String(), stdout.String(), r.code, r.stderr, r.stdout)
				}
			}
		})
	}
}

// TestAdminCommandsCheckFirst checks that a command refuses a bad command line before it dials
// the node (issue 17: newAdminCmd runs a command's check first): a missing required flag is a
// usage error, exit 2, even with no node running.
func TestAdminCommandsCheckFirst(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"user", "add"}, exitUsage, "appliance: --email is required\n"},
		{[]string{"user", "disable"}, exitUsage, "appliance: --email is required\n"},
		{[]string{"token", "create"}, exitUsage, "appliance: --email is required\n"},
		{[]string{"user", "edit", "--email", "a@example.org"}, exitUsage, "appliance: give at least one of --name, --role, --lang, --quota\n"},
		{[]string{"user", "edit", "--email", "a@example.org", "--quota", "lots"}, exitUsage, "appliance: --quota: size \"lots\": want a whole number of bytes, optionally followed by K, M, G or T, \"none\" or \"default\"\n"},
		{[]string{"user", "import"}, exitUsage, "appliance: user import takes one argument: the CSV file\n"},
		{[]string{"token", "revoke"}, exitUsage, "appliance: --id is required\n"},
		{[]string{"admin", "cert", "--name", "a", "--role", "manager"}, exitUsage, "appliance: --out DIR is required\n"},
		{[]string{"admin", "cert", "--out", "o", "--name", "a", "--role", "boss"}, exitUsage, "appliance: --role \"boss\": want supervisor or manager\n"},
		{[]string{"selftest", "--size", "0"}, exitUsage, "appliance: --size must be positive\n"},
		{[]string{"cluster", "remove"}, exitUsage, "appliance: cluster remove takes one argument: the ID of the node to remove\n"},
		{[]string{"settings", "set", "k"}, exitError, "appliance: give k a value, or --file FILE\n"},
		{[]string{"settings", "set", "k", "v", "--file", "f"}, exitError, "appliance: give the value or --file, not both\n"},
		{[]string{"backup"}, exitUsage, "appliance: --out FILE is required\n"},
		{[]string{"backup", "--out", "b.age"}, exitUsage, "appliance: give --passphrase-file F or --recipient AGE_PUBKEY (one of them)\n"},
		{[]string{"transfers", "show"}, exitUsage, "appliance: transfers show takes one argument: the ID of the send\n"},
		{[]string{"transfers", "revoke", "a", "b"}, exitUsage, "appliance: transfers revoke takes one argument: the ID of the send\n"},
		{[]string{"outbox", "retry"}, exitUsage, "appliance: outbox retry takes one argument: the ID of the mail\n"},
		{[]string{"mail", "test"}, exitUsage, "appliance: --to is required\n"},
		{[]string{"journal", "list", "--since", "yesterday"}, exitUsage, "appliance: --since: \"yesterday\" is not a time: want RFC 3339 (2026-01-31T08:00:00Z), a date (2026-01-31) or a duration ago (24h, 7d)\n"},
		{[]string{"journal", "list", "--limit", "0"}, exitUsage, "appliance: --limit must be from 1 to 1000\n"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		args := append(slices.Clone(tc.args), "--data", dir)
		code := run(context.Background(), args, &stdout, &stderr)
		if code != tc.code || stderr.String() != tc.stderr || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit %d, stderr %q, no stdout",
				args, code, stderr.String(), stdout.String(), tc.code, tc.stderr)
		}
	}
}

// importCSV returns a small CSV file of users to import.
func importCSV(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(p, []byte("email\na@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
