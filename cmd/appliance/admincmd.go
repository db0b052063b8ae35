package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"valise/adminapi"
	"valise/node"
)

// adminCall is what one command that talks to the running node does of its own: check its
// command line, call the node, print the answer. newAdminCmd gives it the frame every such
// command shares.
type adminCall[T any] struct {
	// check refuses a bad command line before the admin socket is dialled (a usageError for
	// exit status 2, any other error for 1); nil when there is nothing to check.
	check func(args []string) error
	// call asks the node through c. It may print to cmd's stdout as it goes (selftest's steps).
	call func(cmd *cobra.Command, c *adminapi.Client, args []string) (T, error)
	// text prints the answer for people; an error it returns (a broken journal, a failed
	// selftest) ends the command with exit status 1, its message on stderr.
	text func(out io.Writer, v T) error
	// jsonUsage is the help of --json, which prints the answer as indented JSON instead of
	// text; "" for a command without --json.
	jsonUsage string
}

// newAdminCmd completes cmd, a command that talks to the running node, with the frame they all
// share (docs/design.md, "Rules shared by all commands"): --data and --admin-socket (and --json
// when a.jsonUsage is set), the command line checked before the socket is dialled, one call,
// and the answer printed as text or JSON. Its errors end the command as run maps them:
// adminapi.ErrNotRunning exits 3, a usageError 2, any other 1. The caller adds the command's own
// flags to the result.
func newAdminCmd[T any](cmd *cobra.Command, a adminCall[T]) *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if a.check != nil {
			if err := a.check(args); err != nil {
				return err
			}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		defer c.Close()
		v, err := a.call(cmd, c, args)
		if err != nil {
			return err
		}
		return printAnswer(cmd.OutOrStdout(), v, asJSON, a.text)
	}
	cf.register(cmd)
	if a.jsonUsage != "" {
		cmd.Flags().BoolVar(&asJSON, "json", false, a.jsonUsage)
	}
	return cmd
}

// plainCall is the call of a command that sends the node nothing but the request's name:
// method is a method expression, such as (*adminapi.Client).Status.
func plainCall[T any](method func(*adminapi.Client, context.Context) (T, error)) func(*cobra.Command, *adminapi.Client, []string) (T, error) {
	return func(cmd *cobra.Command, c *adminapi.Client, _ []string) (T, error) {
		return method(c, cmd.Context())
	}
}

// printAnswer prints v as indented JSON when asJSON, else with text.
func printAnswer[T any](out io.Writer, v T, asJSON bool, text func(io.Writer, T) error) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(out, v)
}

// field is one "name: value" line of an answer: the shape scripts read an answer in.
type field struct{ name, value string }

// each is one field named name per value.
func each(name string, values []string) []field {
	fs := make([]field, len(values))
	for i, v := range values {
		fs[i] = field{name, v}
	}
	return fs
}

// printFields prints one "name: value" line per field.
func printFields(out io.Writer, fields []field) error {
	for _, f := range fields {
		if _, err := fmt.Fprintf(out, "%s: %s\n", f.name, f.value); err != nil {
			return err
		}
	}
	return nil
}

// required refuses an empty required flag: a usage error, exit status 2.
func required(flag, value string) error {
	if value == "" {
		return usageError{fmt.Errorf("%s is required", flag)}
	}
	return nil
}

// clientFlags are the flags of every command that talks to a running node.
type clientFlags struct {
	data   string // --data
	socket string // --admin-socket
}

// addDataFlag adds --data to cmd.
func addDataFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "data", "", "the node's data directory (required)")
}

// register adds --data and --admin-socket to cmd.
func (f *clientFlags) register(cmd *cobra.Command) {
	addDataFlag(cmd, &f.data)
	cmd.Flags().StringVar(&f.socket, "admin-socket", "", "the node's admin socket (default: the config's, or DIR/admin.sock)")
}

// client returns an admin client for the node of --data, on --admin-socket, or the socket its
// configuration names, or DIR/admin.sock.
func (f *clientFlags) client() (*adminapi.Client, error) {
	if f.socket != "" {
		return adminapi.NewClient(f.socket), nil
	}
	if err := required("--data DIR", f.data); err != nil {
		return nil, err
	}
	sock := filepath.Join(f.data, "admin.sock")
	cfgPath := filepath.Join(f.data, node.ConfigFileName)
	if _, err := os.Stat(cfgPath); err == nil {
		cfg, err := node.LoadConfig(cfgPath, f.data)
		if err != nil {
			return nil, err
		}
		sock = cfg.AdminSocketPath()
	} else if _, err := os.Stat(f.data); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("data directory %s does not exist: %w", f.data, adminapi.ErrNotRunning)
	}
	return adminapi.NewClient(sock), nil
}
