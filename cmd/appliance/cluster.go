package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newClusterTokenCmd is `appliance cluster token`: a single-use join token.
func newClusterTokenCmd() *cobra.Command {
	var (
		ttl     time.Duration
		replace string
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "token --data DIR [--ttl 1h] [--replace NODE]",
		Short: "Print a single-use join token, alone on the last line (shown once)",
		Long: "cluster token prints a token for `appliance join`: it admits one node, until it expires (--ttl, 1 hour\n" +
			"by default). It carries the cluster CA's fingerprint, which join checks before it sends anything.\n" +
			"With --replace NODE it admits only `join --replace NODE`: a new incarnation of a member whose data was lost.",
		Args: cobra.NoArgs,
	}, adminCall[adminapi.ClusterToken]{
		check: func([]string) error {
			if ttl < time.Minute || ttl%time.Second != 0 {
				return usageError{fmt.Errorf("--ttl %s: want whole seconds, at least 1m", ttl)}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.ClusterToken, error) {
			return c.ClusterToken(cmd.Context(), adminapi.ClusterTokenRequest{TTLSeconds: int64(ttl / time.Second), Replace: replace})
		},
		text: func(out io.Writer, tk adminapi.ClusterToken) error {
			if err := printFields(out, []field{
				{"purpose", tk.Purpose},
				{"expires", tk.Expires.Format(time.RFC3339)},
				{"ca-fingerprint", tk.CAFingerprint},
			}); err != nil {
				return err
			}
			_, err := fmt.Fprintln(out, tk.Token)
			return err
		},
		jsonUsage: "print the token as JSON",
	})
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token stays valid")
	cmd.Flags().StringVar(&replace, "replace", "", "make a token that admits only the replacement of this node (its ID)")
	return cmd
}
