package node

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/raftfsm"
)

// TestAdminJournal pages, filters, tails and exports the journal of a served node through
// its admin socket.
func TestAdminJournal(t *testing.T) {
	h := newHealNode(t, 1, "")
	c, ctx := h.c, t.Context()
	for i := range 5 {
		if _, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: fmt.Sprintf("u%d@example.org", i), Name: fmt.Sprintf("Zoé %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetSetting(ctx, "branding.name", "Malle"); err != nil {
		t.Fatal(err)
	}

	t.Run("pages newest first", func(t *testing.T) {
		var seen []adminapi.JournalEntry
		q := adminapi.JournalQuery{Action: "user.add", Limit: 2}
		for range 10 {
			p, err := c.Journal(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, p.Entries...)
			if p.Next == 0 {
				break
			}
			q.Before = p.Next
		}
		// The administrator init made, then the five.
		if len(seen) != 6 {
			t.Fatalf("user.add entries %d: %+v", len(seen), seen)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].Seq >= seen[i-1].Seq || seen[i].Action != "user.add" || seen[i].Hash == "" {
				t.Fatalf("entry %d: %+v after %+v", i, seen[i], seen[i-1])
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			q    adminapi.JournalQuery
			want int
		}{
			{adminapi.JournalQuery{Action: "settings."}, 1},
			{adminapi.JournalQuery{Query: "MALLE"}, 1}, // full text, in the details
			{adminapi.JournalQuery{Action: "user.", Query: "u3@example"}, 1},
			{adminapi.JournalQuery{Actor: "nobody at all"}, 0},
			{adminapi.JournalQuery{Action: "settings.", Since: time.Now().Add(time.Hour)}, 0},
			{adminapi.JournalQuery{Action: "settings.", Until: time.Now().Add(-24 * time.Hour)}, 0},
			{adminapi.JournalQuery{Action: "settings.", Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)}, 1},
		} {
			p, err := c.Journal(ctx, tc.q)
			if err != nil || len(p.Entries) != tc.want {
				t.Errorf("Journal(%+v) = %d entries, %v; want %d", tc.q, len(p.Entries), err, tc.want)
			}
		}
	})
	t.Run("tail", func(t *testing.T) {
		p, err := c.Journal(ctx, adminapi.JournalQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got := make(chan adminapi.JournalEntry, 16)
		done := make(chan error, 1)
		// From two entries before the head: those first, then the new ones that match.
		go func() {
			done <- c.TailJournal(tctx, adminapi.JournalQuery{After: p.Head - 2, Action: "user."}, func(e adminapi.JournalEntry) error {
				got <- e
				return nil
			})
		}()
		next := func() adminapi.JournalEntry {
			select {
			case e := <-got:
				return e
			case err := <-done:
				t.Fatalf("the tail ended: %v", err)
			case <-time.After(time.Minute):
				t.Fatal("no tail entry within a minute")
			}
			return adminapi.JournalEntry{}
		}
		if e := next(); e.Seq != p.Head-1 || e.Action != "user.add" {
			t.Fatalf("first tail entry %+v, want the last user.add before the head %d", e, p.Head)
		}
		if _, err := c.SetSetting(ctx, "branding.name", "Valise"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddUser(ctx, adminapi.UserAddRequest{Email: "late@example.org"}); err != nil {
			t.Fatal(err)
		}
		// The setting does not match "user.": the next one is the new user.
		if e := next(); e.Action != "user.add" || e.Seq <= p.Head+1 {
			t.Fatalf("tail entry %+v, want the new user", e)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("tail after cancel = %v", err)
		}
	})
	t.Run("export", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := c.ExportJournal(ctx, adminapi.JournalQuery{Action: "user.add"}, &buf); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "seq,time,actor,action,target,details,hash" || len(rows) != 1+7 {
			t.Fatalf("export: %d rows, header %q", len(rows), rows[0])
		}
		for _, r := range rows[1:] {
			if r[3] != "user.add" || len(r[6]) != 64 {
				t.Fatalf("row %q", r)
			}
		}
		// The export is journalled with its caller.
		cctx := adminapi.WithCaller(ctx, adminapi.Caller{Local: true, UID: 4321, Role: adminapi.RoleSupervisor})
		if err := (&adminService{n: h.n}).ExportJournal(cctx, adminapi.JournalQuery{Action: "none."}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		p, err := c.Journal(ctx, adminapi.JournalQuery{Action: "journal.export"})
		if err != nil || len(p.Entries) != 2 || p.Entries[0].Actor != "local administrator (uid 4321)" || !strings.Contains(p.Entries[0].Details, "none.") {
			t.Fatalf("journal.export entries %+v, %v", p.Entries, err)
		}
	})
}

// TestJournalRowDefusesFormulas checks the export's cells a spreadsheet would evaluate.
func TestJournalRowDefusesFormulas(t *testing.T) {
	row := journalRow(raftfsmEntry("=HYPERLINK(\"x\")", "user.add", "@evil", "-1"))
	if row[2] != "'=HYPERLINK(\"x\")" || row[4] != "'@evil" || row[5] != "'-1" || row[3] != "user.add" {
		t.Fatalf("row %q", row)
	}
}

func raftfsmEntry(actor, action, target, details string) raftfsm.Entry {
	return raftfsm.Entry{Seq: 1, Time: time.Unix(0, 0), Actor: actor, Action: action, Target: target, Details: []byte(details)}
}
