// Command console is Valise's administrators' terminal console: a Bubble Tea UI over a
// node's admin API, on its Unix socket (`console --socket DIR/admin.sock`) or over mutual TLS
// from a workstation (`console --url https://node:8445 --cert DIR`). It is thin: the screens
// are package tui's (docs/design.md, "The console").
//
// Exit status: 0 on quit, 1 on an error, 2 on a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
	"valise/internal/buildinfo"
	"valise/tui"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// errUsage marks a bad command line.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "./data/admin.sock", "the node's admin socket")
	url := fs.String("url", "", "the node's admin API over mutual TLS, e.g. https://node:8445 (with --cert)")
	certDir := fs.String("cert", "", "the directory of the admin certificate (cert.pem, key.pem, ca.pem), with --url")
	lang := fs.String("lang", "", "fr or en (default: from LC_ALL, LC_MESSAGES or LANG)")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, "console", buildinfo.Version())
		return 0
	}
	if err := console(*socket, *url, *certDir, *lang); err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// console runs the UI until the administrator quits.
func console(socket, url, certDir, lang string) error {
	l := tui.LangFromEnv(os.Getenv)
	if lang != "" {
		var ok bool
		if l, ok = tui.ParseLang(lang); !ok {
			return fmt.Errorf("%w: --lang is fr or en, not %q", errUsage, lang)
		}
	}
	if (url == "") != (certDir == "") {
		return fmt.Errorf("%w: --url and --cert go together", errUsage)
	}
	env := tui.Env{
		Lang:    l,
		Styles:  tui.NewStyles(lipgloss.HasDarkBackground(os.Stdin, os.Stdout)),
		Now:     time.Now,
		Refresh: 2 * time.Second,
	}
	var client *adminapi.Client
	target := socket
	switch {
	case url != "":
		// TODO(lead): once h-access is merged: client, err = adminapi.NewTLSClient(url, certDir).
		return fmt.Errorf("--url needs adminapi.NewTLSClient, which this build does not have yet: use --socket on the node")
	default:
		client = adminapi.NewClient(socket)
	}
	defer client.Close()
	// TODO(lead): screens 2–5 once their branches are merged: tui.NewUsers(client, env),
	// tui.NewTransfers(client, env), tui.NewJournal(client, env), tui.NewSettings(client, env).
	screens := [6]tui.Screen{tui.NewOverview(client, env), nil, nil, nil, nil, tui.NewCluster(client, env)}
	_, err := tea.NewProgram(tui.NewApp(client, env, screens, target)).Run()
	if err != nil {
		return fmt.Errorf("run the console: %w", err)
	}
	return nil
}
