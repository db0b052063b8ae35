package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"valise/adminapi"
)

// journalFake is a JournalAPI over a fixed journal, newest last in entries.
type journalFake struct {
	mu      sync.Mutex // guards the fields below
	entries []adminapi.JournalEntry
	queries []adminapi.JournalQuery
	report  adminapi.JournalReport
	fail    int // the next calls of Journal that fail as if the node were down
}

// newJournalFake returns a journal of n entries, one a minute before testNow.
func newJournalFake(n int) *journalFake {
	f := &journalFake{report: adminapi.JournalReport{Entries: uint64(n), HeadSeq: uint64(n), OK: true}}
	actions := []string{"user.add", "send.create", "setting.set", "user.disable", "send.revoke"}
	actors := []string{"local administrator (uid 0)", "alice@example.org", "admin-cert:ops"}
	for i := 1; i <= n; i++ {
		f.add(adminapi.JournalEntry{
			Time:    testNow.Add(time.Duration(i-n-1) * time.Minute),
			Actor:   actors[i%len(actors)],
			Action:  actions[i%len(actions)],
			Target:  fmt.Sprintf("user%d@example.org", i),
			Details: fmt.Sprintf(`{"n":%d,"role":"user"}`, i),
		})
	}
	return f
}

func (f *journalFake) add(e adminapi.JournalEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.Seq = uint64(len(f.entries) + 1)
	e.Hash = fmt.Sprintf("%064x", e.Seq*7919)
	f.entries = append(f.entries, e)
}

func (f *journalFake) matching(q adminapi.JournalQuery) []adminapi.JournalEntry {
	var out []adminapi.JournalEntry
	for _, e := range slices.Backward(f.entries) {
		switch {
		case q.Before > 0 && e.Seq >= q.Before, q.After > 0 && e.Seq <= q.After,
			!strings.HasPrefix(e.Action, q.Action), !strings.Contains(e.Actor, q.Actor),
			!q.Since.IsZero() && e.Time.Before(q.Since), !q.Until.IsZero() && !e.Time.Before(q.Until),
			q.Query != "" && !strings.Contains(e.Actor+e.Action+e.Target+e.Details, q.Query):
			continue
		}
		out = append(out, e)
	}
	return out
}

func (f *journalFake) Journal(_ context.Context, q adminapi.JournalQuery) (adminapi.JournalPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.fail > 0 {
		f.fail--
		return adminapi.JournalPage{}, adminapi.ErrNotRunning
	}
	all := f.matching(q)
	page := adminapi.JournalPage{Head: uint64(len(f.entries))}
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
		page.Next = all[len(all)-1].Seq
	}
	page.Entries = all
	return page, nil
}

func (f *journalFake) ExportJournal(_ context.Context, q adminapi.JournalQuery, w io.Writer) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	k, err := io.WriteString(w, "seq,time,actor,action,target,details,hash\n")
	n += int64(k)
	for _, e := range slices.Backward(f.matching(q)) {
		if err != nil {
			break
		}
		k, err = fmt.Fprintf(w, "%d,%s,%s,%s,%s,,%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Action, e.Target, e.Hash)
		n += int64(k)
	}
	return n, err
}

func (f *journalFake) VerifyJournal(context.Context) (adminapi.JournalReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report, nil
}

func (f *journalFake) lastQuery() adminapi.JournalQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

// settle gives s msg, then every message its commands return, until none is left; it
// returns the ErrMsg and ToastMsg the screen sent to the App.
func settle(t *testing.T, s Screen, msg tea.Msg) (Screen, []tea.Msg) {
	t.Helper()
	var out []tea.Msg
	queue := []tea.Msg{msg}
	for n := 0; len(queue) > 0; n++ {
		if n > 1000 {
			t.Fatal("the screen's commands never end")
		}
		m := queue[0]
		queue = queue[1:]
		switch m := m.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			for _, c := range m {
				if c != nil {
					queue = append(queue, c())
				}
			}
			continue
		case ErrMsg, ToastMsg:
			out = append(out, m)
			continue
		}
		var cmd tea.Cmd
		s, cmd = s.Update(m)
		if cmd != nil {
			queue = append(queue, cmd())
		}
	}
	return s, out
}

// moreKeys are the named keys the screens' tests press beyond those press knows.
var moreKeys = map[string]tea.KeyPressMsg{
	"pgdown": {Code: tea.KeyPgDown},
	"end":    {Code: tea.KeyEnd},
	"home":   {Code: tea.KeyHome},
	"ctrl+u": {Code: 'u', Mod: tea.ModCtrl},
}

// keyMsg returns the key press named k: "enter", "ctrl+u" or one character.
func keyMsg(k string) tea.KeyPressMsg {
	if m, ok := moreKeys[k]; ok {
		return m
	}
	return press(k)
}

// pressKeys gives s each key in turn; a key of more than one character that is no key name
// is typed.
func pressKeys(t *testing.T, s Screen, keys ...string) (Screen, []tea.Msg) {
	t.Helper()
	var out []tea.Msg
	for _, k := range keys {
		var msgs []tea.Msg
		if _, named := moreKeys[k]; named || slices.Contains([]string{"enter", "esc", "tab", "right"}, k) {
			s, msgs = settle(t, s, keyMsg(k))
			out = append(out, msgs...)
			continue
		}
		for _, r := range k {
			s, msgs = settle(t, s, keyMsg(string(r)))
			out = append(out, msgs...)
		}
	}
	return s, out
}

// loaded gives s its body's size and its first load, and fails if that sent anything.
func loaded(t *testing.T, s Screen, w, h int) Screen {
	t.Helper()
	s, _ = settle(t, s, BodySizeMsg{Width: w, Height: h})
	s, out := settle(t, s, tea.BatchMsg{s.Init()})
	if len(out) > 0 {
		t.Fatalf("loading sent %v", out)
	}
	return s
}

// newTestJournal returns a Journal over f, loaded, in a w×h body.
func newTestJournal(t *testing.T, f *journalFake, lang Lang, w, h int) *Journal {
	t.Helper()
	return loaded(t, NewJournal(f, testEnv(lang)), w, h).(*Journal)
}

func TestJournalDateValidation(t *testing.T) {
	j := newTestJournal(t, newJournalFake(3), LangEN, 80, 20)
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"empty", "", true},
		{"date", "2026-11-30", true},
		{"spaces", " 2026-11-30 ", true},
		{"month 13", "2026-13-01", false},
		{"french order", "30/11/2026", false},
		{"no padding", "2026-1-3", false},
		{"with time", "2026-11-30T10:00:00Z", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := j.validDate(tc.in); (err == nil) != tc.ok {
				t.Fatalf("validDate(%q) = %v, want ok %v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestJournalFiltersForm(t *testing.T) {
	f := newJournalFake(30)
	var s Screen = newTestJournal(t, f, LangEN, 80, 20)
	s, _ = pressKeys(t, s, "f", "user.", "tab", "tab", "2026-11-3x", "tab", "enter")
	j := s.(*Journal)
	if j.mode != journalFilters || !s.Typing() {
		t.Fatalf("a bad date was submitted: mode %v", j.mode)
	}
	if v := j.View(); !strings.Contains(v, "expected a date: YYYY-MM-DD") {
		t.Fatalf("no error under the date:\n%s", v)
	}
	// The until date before the since date is refused on submit.
	s, _ = pressKeys(t, s, "ctrl+u", "2026-12-01", "tab", "2026-11-30", "enter")
	j = s.(*Journal)
	if j.mode != journalFilters || !strings.Contains(j.View(), "must not be before the start date") {
		t.Fatalf("until before since was accepted:\n%s", j.View())
	}
	s, _ = pressKeys(t, s, "ctrl+u", "2026-12-01", "enter")
	j = s.(*Journal)
	if j.mode != journalList {
		t.Fatalf("the filters were not submitted:\n%s", j.View())
	}
	q := f.lastQuery()
	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if q.Action != "user." || !q.Since.Equal(since) || !q.Until.Equal(since.AddDate(0, 0, 1)) {
		t.Fatalf("query = %+v", q)
	}
	for _, e := range j.entries {
		if !strings.HasPrefix(e.Action, "user.") {
			t.Fatalf("entry %+v shown despite the filter", e)
		}
	}
	// esc clears the filters.
	s, _ = pressKeys(t, s, "esc")
	if q := f.lastQuery(); q.Action != "" || !q.Since.IsZero() || len(s.(*Journal).entries) != 30 {
		t.Fatalf("esc left the filters: %+v", q)
	}
}

func TestJournalSearchIsServerSide(t *testing.T) {
	f := newJournalFake(30)
	var s Screen = newTestJournal(t, f, LangEN, 80, 20)
	s, _ = pressKeys(t, s, "/", "user17@", "enter")
	if q := f.lastQuery(); q.Query != "user17@" {
		t.Fatalf("query = %+v", q)
	}
	if j := s.(*Journal); len(j.entries) != 1 || j.entries[0].Seq != 17 {
		t.Fatalf("entries = %+v", j.entries)
	}
}

func TestJournalPaging(t *testing.T) {
	f := newJournalFake(2*journalPageSize + 10)
	var s Screen = newTestJournal(t, f, LangEN, 80, 20)
	if n := len(s.(*Journal).entries); n != journalPageSize {
		t.Fatalf("first page has %d entries", n)
	}
	s, _ = pressKeys(t, s, "end", "pgdown")
	j := s.(*Journal)
	if n := len(j.entries); n != 2*journalPageSize {
		t.Fatalf("after pgdown at the end: %d entries", n)
	}
	if q := f.lastQuery(); q.Before != journalPageSize+11 {
		t.Fatalf("next page asked with %+v", q)
	}
	s, _ = pressKeys(t, s, "end", "pgdown")
	j = s.(*Journal)
	if n := len(j.entries); n != len(f.entries) || j.next != 0 || j.entries[n-1].Seq != 1 {
		t.Fatalf("after the last page: %d entries, next %d", n, j.next)
	}
}

func TestJournalTail(t *testing.T) {
	f := newJournalFake(5)
	var s Screen = newTestJournal(t, f, LangEN, 80, 20)
	s, _ = pressKeys(t, s, "t")
	f.add(adminapi.JournalEntry{Time: testNow, Actor: "bob@example.org", Action: "send.create", Target: "s1"})
	f.add(adminapi.JournalEntry{Time: testNow, Actor: "bob@example.org", Action: "send.revoke", Target: "s1"})
	s, _ = settle(t, s, TickMsg{Time: testNow})
	j := s.(*Journal)
	if len(j.entries) != 7 || j.entries[0].Seq != 7 || j.entries[1].Seq != 6 || j.entries[2].Seq != 5 {
		t.Fatalf("entries after the tick: %+v", j.entries)
	}
	if q := f.lastQuery(); q.After != 5 {
		t.Fatalf("tail asked %+v", q)
	}
	// Off, a tick asks nothing.
	s, _ = pressKeys(t, s, "t")
	n := len(f.queries)
	settle(t, s, TickMsg{Time: testNow})
	if len(f.queries) != n {
		t.Fatal("a tick with the tail off queried the node")
	}
}

func TestJournalDetail(t *testing.T) {
	var s Screen = newTestJournal(t, newJournalFake(5), LangEN, 80, 20)
	s, _ = pressKeys(t, s, "enter")
	v := s.View()
	for _, want := range []string{"Entry 5", `"n": 5,`, fmt.Sprintf("%064x", 5*7919)} {
		if !strings.Contains(v, want) {
			t.Fatalf("detail lacks %q:\n%s", want, v)
		}
	}
	s, _ = pressKeys(t, s, "esc")
	if s.(*Journal).mode != journalList {
		t.Fatal("esc did not go back to the list")
	}
}

func TestJournalExportPathValidation(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.csv")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	j := newTestJournal(t, newJournalFake(1), LangEN, 80, 20)
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"new file", filepath.Join(dir, "j.csv"), true},
		{"empty", "", false},
		{"blank", "  ", false},
		{"exists", existing, false},
		{"a directory", dir, false},
		{"no such folder", filepath.Join(dir, "nope", "j.csv"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := j.validExportPath(tc.path); (err == nil) != tc.ok {
				t.Fatalf("validExportPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
			}
		})
	}
}

func TestJournalExport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.csv")
	var s Screen = newTestJournal(t, newJournalFake(12), LangEN, 80, 20)
	s, out := pressKeys(t, s, "x", "ctrl+u", path, "enter")
	if s.(*Journal).mode != journalList || len(out) != 1 {
		t.Fatalf("export sent %v", out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("export mode %v, want 0600", fi.Mode().Perm())
	}
	want := ToastMsg{Text: "Journal exported: " + strconv.Itoa(len(b)) + " bytes to " + path}
	if out[0] != want || strings.Count(string(b), "\n") != 13 {
		t.Fatalf("toast %+v, file:\n%s", out[0], b)
	}
	// The same path again is refused by the form: an export never overwrites.
	s, _ = pressKeys(t, s, "x", "ctrl+u", path, "enter")
	if s.(*Journal).mode != journalExport {
		t.Fatal("an existing file was accepted")
	}
}

func TestJournalVerify(t *testing.T) {
	f := newJournalFake(5)
	f.report = adminapi.JournalReport{Entries: 3, HeadSeq: 2, OK: false, BrokenAt: 3}
	var s Screen = newTestJournal(t, f, LangEN, 80, 20)
	s, _ = pressKeys(t, s, "v")
	if v := s.View(); !strings.Contains(v, "chain broken at entry 3 (last good: 2)") {
		t.Fatalf("view:\n%s", v)
	}
	f.report = adminapi.JournalReport{Entries: 5, HeadSeq: 5, OK: true}
	s, _ = settle(t, s, LangMsg{Lang: LangFR})
	s, _ = pressKeys(t, s, "v")
	if v := s.View(); !strings.Contains(v, "chaîne intacte : 5 entrées") {
		t.Fatalf("view:\n%s", v)
	}
}

// TestJournalSettingsRetryAfterLostConnection checks that a screen whose first load found
// the node down loads again on the next tick, and only then.
func TestJournalSettingsRetryAfterLostConnection(t *testing.T) {
	jf, sf := newJournalFake(5), newSettingsFake()
	jf.fail, sf.fail = 1, 1
	for _, tc := range []struct {
		name   string
		screen Screen
		shown  func(Screen) int // how many entries or settings it shows
		want   int
	}{
		{"journal", NewJournal(jf, testEnv(LangEN)), func(s Screen) int { return len(s.(*Journal).entries) }, 5},
		{"settings", NewSettings(sf, testEnv(LangEN)), func(s Screen) int { return len(s.(*Settings).settings) }, len(sf.settings)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := settle(t, tc.screen, BodySizeMsg{Width: 80, Height: 20})
			s, out := settle(t, s, tea.BatchMsg{s.Init()})
			if len(out) != 1 || !errors.Is(out[0].(ErrMsg).Err, adminapi.ErrNotRunning) {
				t.Fatalf("a lost node sent %v", out)
			}
			s, out = settle(t, s, TickMsg{Time: testNow})
			if len(out) != 0 || tc.shown(s) != tc.want {
				t.Fatalf("the tick after sent %v and shows %d", out, tc.shown(s))
			}
		})
	}
	// Loaded, a tick asks nothing more.
	n := len(jf.queries)
	s := newTestJournal(t, jf, LangEN, 80, 20)
	settle(t, s, TickMsg{Time: testNow})
	if len(jf.queries) != n+1 {
		t.Fatal("a tick reloaded a loaded journal")
	}
}
