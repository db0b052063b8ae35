package node

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"valise/adminapi"
	"valise/raftfsm"
)

// The journal for the console (issue 20): pages newest first, filtered; a tail woken by each
// apply (raftfsm.Store.Changed); an export as CSV, itself journalled.

// Journal page limits: the default and the most one page holds.
const (
	journalPageDefault = 100
	journalPageMax     = 1000
)

// journalChunk bounds the entries read in one transaction by the tail and the export: the
// read transaction (and the FSM's lock a restore needs) is never held while a client reads.
const journalChunk = 256

// sinceSkew is how much older than Since an entry may be before a newest-first walk stops:
// the leaders' clocks stamp the entries, and a new leader's may be a little behind.
const sinceSkew = time.Hour

// keyAdminLast + action holds the details of the last admin action journalled without a
// record of its own (journalled reads, test mails): a batch needs an Op.
const keyAdminLast = "admin/last/"

// journalFilter is a JournalQuery's filters, lowered once.
type journalFilter struct {
	action, actor, text string
	since, until        time.Time
}

func newJournalFilter(q adminapi.JournalQuery) journalFilter {
	return journalFilter{action: q.Action, actor: strings.ToLower(q.Actor), text: strings.ToLower(q.Query), since: q.Since, until: q.Until}
}

// match reports whether e passes every filter: the action starts with action, the actor holds
// actor, the time is in [since, until], and the text is in the actor, action, target or
// details (case-insensitive).
func (f journalFilter) match(e raftfsm.Entry) bool {
	switch {
	case !strings.HasPrefix(e.Action, f.action):
		return false
	case f.actor != "" && !strings.Contains(strings.ToLower(e.Actor), f.actor):
		return false
	case !f.since.IsZero() && e.Time.Before(f.since):
		return false
	case !f.until.IsZero() && e.Time.After(f.until):
		return false
	}
	if f.text == "" {
		return true
	}
	for _, s := range []string{e.Actor, e.Action, e.Target, string(e.Details)} {
		if strings.Contains(strings.ToLower(s), f.text) {
			return true
		}
	}
	return false
}

func journalEntry(e raftfsm.Entry) adminapi.JournalEntry {
	return adminapi.JournalEntry{Seq: e.Seq, Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Details: string(e.Details), Hash: hex.EncodeToString(e.Hash[:])}
}

// errPageFull stops a walk once a page is full.
var errPageFull = errors.New("page full")

// Journal implements adminapi.JournalService: a page of matching entries, newest first.
func (s *adminService) Journal(_ context.Context, q adminapi.JournalQuery) (adminapi.JournalPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = journalPageDefault
	}
	limit = min(limit, journalPageMax)
	head, err := s.n.store.JournalHead()
	if err != nil {
		return adminapi.JournalPage{}, fmt.Errorf("read the journal head: %w", err)
	}
	page := adminapi.JournalPage{Entries: []adminapi.JournalEntry{}, Head: head.Seq}
	f := newJournalFilter(q)
	err = s.n.store.JournalBackward(q.Before, func(e raftfsm.Entry) error {
		if !f.since.IsZero() && e.Time.Before(f.since.Add(-sinceSkew)) {
			return errPageFull // older than anything the page wants
		}
		if !f.match(e) {
			return nil
		}
		page.Entries = append(page.Entries, journalEntry(e))
		if len(page.Entries) == limit {
			page.Next = e.Seq
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return adminapi.JournalPage{}, fmt.Errorf("read the journal: %w", err)
	}
	if page.Next == 1 {
		page.Next = 0 // nothing is older than the first entry
	}
	return page, nil
}

// journalAfter returns up to journalChunk entries matching f after seq, oldest first, and the
// last sequence number read (seq when there was none).
func (n *instance) journalAfter(seq uint64, f journalFilter) ([]raftfsm.Entry, uint64, error) {
	var out []raftfsm.Entry
	read := 0
	err := n.store.Journal(seq+1, func(e raftfsm.Entry) error {
		seq = e.Seq
		if f.match(e) {
			out = append(out, e)
		}
		if read++; read == journalChunk {
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, seq, fmt.Errorf("read the journal: %w", err)
	}
	return out, seq, nil
}

// TailJournal implements adminapi.JournalService: the matching entries after q.After, then
// each new one as it is applied, until ctx ends or the node stops.
func (s *adminService) TailJournal(ctx context.Context, q adminapi.JournalQuery, fn func(adminapi.JournalEntry) error) error {
	n := s.n
	f := newJournalFilter(q)
	last := q.After
	for {
		// Taken before the read: an entry applied after the read closes it.
		changed := n.store.Changed()
		entries, seq, err := n.journalAfter(last, f)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(journalEntry(e)); err != nil {
				return err
			}
		}
		if seq != last {
			last = seq
			continue // maybe more than a chunk was waiting
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		case <-n.bgCtx.Done():
			return errors.New("the node is stopping")
		}
	}
}

// journalCSVHeader is the export's first line.
var journalCSVHeader = []string{"seq", "time", "actor", "action", "target", "details", "hash"}

// ExportJournal implements adminapi.JournalService: the export is journalled first (who took
// a copy, with which filters), then the matching entries up to the journal's head at that
// moment are written as CSV, oldest first.
func (s *adminService) ExportJournal(ctx context.Context, q adminapi.JournalQuery, w io.Writer) error {
	n := s.n
	details := map[string]any{"action": q.Action, "actor": q.Actor, "q": q.Query}
	if !q.Since.IsZero() {
		details["since"] = q.Since
	}
	if !q.Until.IsZero() {
		details["until"] = q.Until
	}
	res, err := n.journalAdmin(ctx, "journal.export", "journal", details)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(journalCSVHeader); err != nil {
		return fmt.Errorf("write the journal export: %w", err)
	}
	f := newJournalFilter(q)
	for last := uint64(0); last < res.JournalSeq; {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, seq, err := n.journalAfter(last, f)
		if err != nil {
			return err
		}
		if seq == last {
			break // a restore replaced the journal meanwhile
		}
		last = seq
		for _, e := range entries {
			if e.Seq > res.JournalSeq {
				break
			}
			if err := cw.Write(journalRow(e)); err != nil {
				return fmt.Errorf("write the journal export: %w", err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("write the journal export: %w", err)
		}
	}
	return nil
}

// journalRow is one CSV line of the export. A cell a spreadsheet would read as a formula
// (=, +, -, @ first) is prefixed with a quote: actors and targets can be chosen by users.
func journalRow(e raftfsm.Entry) []string {
	row := []string{strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target,
		string(e.Details), hex.EncodeToString(e.Hash[:])}
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			row[i] = "'" + c
		}
	}
	return row
}

// journalAdmin journals an admin action that changes no record of its own (an export, a test
// mail), with the caller as actor: its details are kept as the last of that action.
func (n *instance) journalAdmin(ctx context.Context, action, target string, details any) (raftfsm.Result, error) {
	d := mustJSON(details)
	res, err := n.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyAdminLast + action), Value: d}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: actorOf(ctx), Action: action, Target: target, Details: d},
	})
	if err != nil {
		return res, translate(fmt.Errorf("journal %s: %w", action, err))
	}
	return res, nil
}
