package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
	"valise/internal/newfile"
)

// journalFilters are the filter flags journal list, export and tail share.
type journalFilters struct {
	action, actor, since, until, text string
}

func (f *journalFilters) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.action, "action", "", `only actions starting with this, such as "user." or "send.revoke"`)
	fs.StringVar(&f.actor, "actor", "", "only entries whose actor holds this")
	fs.StringVar(&f.since, "since", "", "only entries from this time: RFC 3339, a date (2026-01-31) or a duration ago (24h, 7d)")
	fs.StringVar(&f.until, "until", "", "only entries up to this time, as --since")
	fs.StringVarP(&f.text, "query", "q", "", "only entries holding this text (actor, action, target or details)")
}

// query builds the JournalQuery, a usage error for a time that does not parse.
func (f *journalFilters) query(now time.Time) (adminapi.JournalQuery, error) {
	q := adminapi.JournalQuery{Action: f.action, Actor: f.actor, Query: f.text}
	var err error
	if q.Since, err = parseWhen(f.since, now); err != nil {
		return q, usageError{fmt.Errorf("--since: %w", err)}
	}
	if q.Until, err = parseWhen(f.until, now); err != nil {
		return q, usageError{fmt.Errorf("--until: %w", err)}
	}
	return q, nil
}

// parseWhen reads a time given on the command line: "" (none), RFC 3339, a date (midnight
// UTC) or a duration before now ("90m", "24h", "7d").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100000 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-01-31T08:00:00Z), a date (2026-01-31) or a duration ago (24h, 7d)", s)
}

func newJournalListCmd() *cobra.Command {
	var (
		f      journalFilters
		limit  int
		before uint64
		q      adminapi.JournalQuery
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "list --data DIR [--action A] [--actor A] [--since T] [--until T] [-q TEXT] [--limit N] [--before SEQ] [--json]",
		Short: "List the journal's entries, newest first, filtered",
		Long: "list prints one page of the journal's entries, newest first, matching every filter given. When there are\n" +
			"older ones it says which --before SEQ shows the next page.",
		Args: cobra.NoArgs,
	}, adminCall[adminapi.JournalPage]{
		check: func([]string) error {
			var err error
			if q, err = f.query(time.Now()); err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageError{errors.New("--limit must be from 1 to 1000")}
			}
			q.Limit, q.Before = limit, before
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.JournalPage, error) {
			return c.Journal(cmd.Context(), q)
		},
		text:      printJournalPage,
		jsonUsage: "print the page as JSON",
	})
	f.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 50, "the most entries to print (1 to 1000)")
	cmd.Flags().Uint64Var(&before, "before", 0, "only entries older than this sequence number (the next page)")
	return cmd
}

func printJournalPage(out io.Writer, p adminapi.JournalPage) error {
	if len(p.Entries) == 0 {
		_, err := fmt.Fprintln(out, "journal: no matching entry")
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET")
	for _, e := range p.Entries {
		printJournalLine(tw, e)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.Next != 0 {
		_, err := fmt.Fprintf(out, "older entries: --before %d\n", p.Next)
		return err
	}
	return nil
}

// printJournalLine prints one entry as a tab-separated line.
func printJournalLine(w io.Writer, e adminapi.JournalEntry) {
	fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Target)
}

// exportResult is what journal export wrote.
type exportResult struct {
	File  string `json:"file,omitempty"` // "" for stdout
	Bytes int64  `json:"bytes"`
}

func newJournalExportCmd() *cobra.Command {
	var (
		f   journalFilters
		out string
		q   adminapi.JournalQuery
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "export --data DIR [--out FILE] [--action A] [--actor A] [--since T] [--until T] [-q TEXT]",
		Short: "Write the journal's matching entries as CSV, oldest first (the export is journalled)",
		Long: "export writes the matching entries as CSV (seq,time,actor,action,target,details,hash), oldest first,\n" +
			"to FILE (created with mode 0600, never written over) or to stdout. The node journals who exported.",
		Args: cobra.NoArgs,
	}, adminCall[exportResult]{
		check: func([]string) error {
			var err error
			q, err = f.query(time.Now())
			if err != nil {
				return err
			}
			if out != "" {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s exists already: choose another name", out)
				}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (exportResult, error) {
			if out == "" {
				n, err := c.ExportJournal(cmd.Context(), q, cmd.OutOrStdout())
				return exportResult{Bytes: n}, err
			}
			return exportToFile(cmd, c, q, out)
		},
		text: func(w io.Writer, r exportResult) error {
			if r.File == "" {
				return nil // the CSV went to stdout
			}
			_, err := fmt.Fprintf(w, "journal: %d bytes written to %s\n", r.Bytes, r.File)
			return err
		},
	})
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "the CSV file to write (default: stdout)")
	return cmd
}

// exportToFile writes the export into a new file out, whole or not at all.
func exportToFile(cmd *cobra.Command, c *adminapi.Client, q adminapi.JournalQuery, out string) (exportResult, error) {
	var n int64
	err := newfile.Write(out, func(w io.Writer) (err error) {
		n, err = c.ExportJournal(cmd.Context(), q, w)
		return err
	})
	if err != nil {
		return exportResult{}, err
	}
	return exportResult{File: out, Bytes: n}, nil
}

func newJournalTailCmd() *cobra.Command {
	var (
		f     journalFilters
		lines int
		q     adminapi.JournalQuery
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "tail --data DIR [--lines N] [--action A] [--actor A] [--since T] [-q TEXT]",
		Short: "Print the last matching entries, then each new one as it is applied, until interrupted",
		Args:  cobra.NoArgs,
	}, adminCall[struct{}]{
		check: func([]string) error {
			var err error
			q, err = f.query(time.Now())
			if err != nil {
				return err
			}
			if lines < 0 || lines > 1000 {
				return usageError{errors.New("--lines must be from 0 to 1000")}
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (struct{}, error) {
			out := cmd.OutOrStdout()
			last := q
			last.Limit = max(lines, 1)
			p, err := c.Journal(cmd.Context(), last)
			if err != nil {
				return struct{}{}, err
			}
			if lines > 0 {
				for i := len(p.Entries) - 1; i >= 0; i-- {
					printTailLine(out, p.Entries[i])
				}
			}
			q.After = p.Head
			return struct{}{}, c.TailJournal(cmd.Context(), q, func(e adminapi.JournalEntry) error {
				printTailLine(out, e)
				return nil
			})
		},
		text: func(io.Writer, struct{}) error { return nil },
	})
	f.register(cmd)
	cmd.Flags().IntVar(&lines, "lines", 10, "how many past entries to print first")
	return cmd
}

// printTailLine prints one entry of the tail, its details after the target.
func printTailLine(w io.Writer, e adminapi.JournalEntry) {
	fmt.Fprintf(w, "%d  %s  %s  %s  %s", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Target)
	if e.Details != "" {
		fmt.Fprintf(w, "  %s", e.Details)
	}
	fmt.Fprintln(w)
}
