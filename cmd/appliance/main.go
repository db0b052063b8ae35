// Command appliance runs and administers a Valise node: `init` creates a one-node cluster,
// `serve` runs it, and the other commands talk to the running node through its admin socket.
// The command-line contract is in docs/design.md ("The command-line and HTTP contract").
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error, 3 when the node is not
// running, 4 when the cluster cannot answer right now (no leader during an election, no
// quorum): the same command may succeed if tried again. Errors go to stderr as one sentence.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// Exit statuses.
const (
	exitOK         = 0
	exitError      = 1
	exitUsage      = 2
	exitNotRunning = 3
	// exitUnavailable: the node answered that the cluster cannot serve the request now; a
	// script may retry the same command.
	exitUnavailable = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ae *adminapi.Error
	switch {
	case errors.Is(err, adminapi.ErrNotRunning):
		fmt.Fprintln(stderr, "appliance: node not running")
		return exitNotRunning
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "appliance: %v\n", err)
		return exitUsage
	case errors.As(err, &ae) && ae.Code == adminapi.CodeUnavailable:
		fmt.Fprintf(stderr, "appliance: %v\n", err)
		return exitUnavailable
	default:
		fmt.Fprintf(stderr, "appliance: %v\n", err)
		return exitError
	}
}

// usageError is a bad command line: exit status 2.
type usageError struct{ error }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "appliance",
		Short:         "Run and administer a Valise node",
		Long:          "appliance runs a Valise node (init, serve) and administers the running node through its admin socket.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(), newServeCmd(), newStatusCmd(), newSelftestCmd(),
		newJournalCmd(), newSettingsCmd(), newUserCmd(), newTokenCmd(), newOutboxCmd(), newCACmd())
	root.AddCommand(newHealCmd(), newScrubCmd(), newClusterCmd(), newLeaveCmd(), newJoinCmd())
	root.AddCommand(newRebalanceCmd(), newBackupCmd())
	root.AddCommand(newAdminGroupCmd()) // admincert.go
	root.AddCommand(newRestoreCmd())
	root.AddCommand(newOrphansCmd())
	root.AddCommand(newTransfersCmd(), newMailCmd()) // transferscmd.go, mailcmd.go
	return root
}
