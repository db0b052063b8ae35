package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

func newSettingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Read and change the settings",
		Long: `Read and change the settings. Most are cluster-wide: kept in the replicated metadata,
the same on every node, journalled. Those naming a path or a socket on one machine
(clamd.address, smtp.ca_file) are node settings: kept in the node's own valise.toml, under
[local], and set on each node that needs them. settings get says each one's scope.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSettingsGetCmd(), newSettingsSetCmd())
	return cmd
}

// settingsAnswer is what settings get prints: one setting's value, or every setting.
type settingsAnswer struct {
	one *adminapi.Setting // the setting of KEY; nil when no KEY was given
	all []adminapi.Setting
}

// MarshalJSON gives --json its shape: the setting of KEY as an object (key, value, set,
// scope), or every setting as {"settings": [...]}.
func (a settingsAnswer) MarshalJSON() ([]byte, error) {
	if a.one != nil {
		return json.Marshal(a.one)
	}
	return json.Marshal(adminapi.SettingList{Settings: a.all})
}

func newSettingsGetCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "get --data DIR [KEY]",
		Short: "Print one setting's value, or every setting",
		Args:  cobra.MaximumNArgs(1),
	}, adminCall[settingsAnswer]{
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (settingsAnswer, error) {
			if len(args) == 1 {
				s, err := c.Setting(cmd.Context(), args[0])
				return settingsAnswer{one: &s}, err
			}
			all, err := c.Settings(cmd.Context())
			return settingsAnswer{all: all}, err
		},
		text:      printSettings,
		jsonUsage: "print the setting, or every setting, as JSON, with its scope (cluster or node)",
	})
}

// printSettings prints one setting's value alone (for scripts), or every setting as a table:
// key, value, scope (cluster or node) and "(default)" when never set.
func printSettings(out io.Writer, a settingsAnswer) error {
	if a.one != nil {
		_, err := fmt.Fprintln(out, a.one.Value)
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSCOPE\t")
	for _, s := range a.all {
		origin := ""
		if !s.Set {
			origin = "(default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, shortValue(s.Value), s.Scope, origin)
	}
	return tw.Flush()
}

func newSettingsSetCmd() *cobra.Command {
	var file, value string
	cmd := newAdminCmd(&cobra.Command{
		Use:   "set --data DIR KEY (VALUE | --file FILE)",
		Short: "Change one setting: cluster-wide (journalled), or on this node for a node setting",
		Long: `Change one setting. A cluster setting changes on every node, through the leader, and
is journalled. A node setting (a path or a socket on this machine: clamd.address,
smtp.ca_file) is written into this node's valise.toml, under [local], and changes this node
only: run it against each node that needs it. With --file the value is the file's content
without its final newline; for branding.logo the file is an image (PNG, JPEG, GIF, WebP or
SVG, at most 96 KiB), sent as a data: URL.`,
		Args: cobra.RangeArgs(1, 2),
	}, adminCall[adminapi.Setting]{
		check: func(args []string) (err error) {
			value, err = settingValue(args, file)
			return err
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, args []string) (adminapi.Setting, error) {
			return c.SetSetting(cmd.Context(), args[0], value)
		},
		text: func(out io.Writer, s adminapi.Setting) error {
			where := ""
			if s.Scope == "node" {
				where = " (node setting: this node's valise.toml only)"
			}
			_, err := fmt.Fprintf(out, "%s = %s%s\n", s.Key, shortValue(s.Value), where)
			return err
		},
	})
	cmd.Flags().StringVar(&file, "file", "", "read the value from `FILE` (an image for branding.logo)")
	return cmd
}

// settingValue is the value of settings set: its second argument, or the content of file.
func settingValue(args []string, file string) (string, error) {
	switch {
	case len(args) == 2 && file != "":
		return "", errors.New("give the value or --file, not both")
	case len(args) == 2:
		return args[1], nil
	case file == "":
		return "", fmt.Errorf("give %s a value, or --file FILE", args[0])
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the value of %s: %w", args[0], err)
	}
	if args[0] == "branding.logo" {
		// An untyped data: URL: the node tells the image type from the bytes.
		return "data:;base64," + base64.StdEncoding.EncodeToString(data), nil
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), nil
}

// shortValue shortens a long value (a logo's data: URL) for a listing.
func shortValue(v string) string {
	const max = 80
	if len(v) <= max {
		return v
	}
	cut := max - 20
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + fmt.Sprintf("… (%d bytes)", len(v))
}
