package tui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/adminapi"
)

// fakeTransfers is a TransfersAPI over fixed data that records the calls asked of it.
type fakeTransfers struct {
	mu      sync.Mutex // guards everything below
	list    []adminapi.TransferInfo
	queries []adminapi.TransferQuery
	revoked []string
}

func newFakeTransfers() *fakeTransfers {
	at := func(d int) time.Time {
		return time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC).Add(time.Duration(d) * time.Hour)
	}
	return &fakeTransfers{list: []adminapi.TransferInfo{
		{ID: "s3", Kind: "send", Owner: "alice@example.org", Subject: "Contrat signé", State: adminapi.TransferActive,
			Created: at(2), Expires: at(24 * 7), Files: 2, Bytes: 18 << 20, Recipients: 2, Downloads: 1},
		{ID: "u1", Kind: "upload", Owner: "bob@example.org", State: adminapi.TransferUploading,
			Created: at(1), Files: 1, Bytes: 700 << 20},
		{ID: "s2", Kind: "send", Owner: "bob@example.org", Subject: "Plans du chantier", State: adminapi.TransferRevoked,
			Created: at(0), Files: 5, Bytes: 2 << 30, Recipients: 1},
	}}
}

func (f *fakeTransfers) ListTransfers(_ context.Context, q adminapi.TransferQuery) (adminapi.TransferPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []adminapi.TransferInfo
	for _, t := range f.list {
		if (q.State == "" || t.State == q.State) && (q.User == "" || t.Owner == q.User) {
			out = append(out, t)
		}
	}
	return adminapi.TransferPage{Transfers: out, Total: len(out)}, nil
}

func (f *fakeTransfers) GetTransfer(_ context.Context, id string) (adminapi.TransferDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.list {
		if t.ID == id {
			return adminapi.TransferDetail{TransferInfo: t, Password: true, DownloadLimit: 3,
				Files: []adminapi.TransferFile{
					{Name: "contrat.pdf", Size: 1 << 20, SHA256: strings.Repeat("ab12", 16), Verdict: "clean"},
					{Name: "annexes.zip", Size: 17 << 20, SHA256: strings.Repeat("9f0e", 16), Verdict: "clean"},
				},
				Recipients: []adminapi.TransferRecipient{
					{Email: "notaire@example.fr", Opened: true, Downloads: 1, Notified: true,
						LastDownload: time.Date(2026, 11, 30, 17, 12, 0, 0, time.UTC)},
					{Email: "client@example.com", Notified: false},
				}}, nil
		}
	}
	return adminapi.TransferDetail{}, &adminapi.Error{Code: adminapi.CodeNotFound, Message: "no such transfer"}
}

func (f *fakeTransfers) RevokeTransfer(_ context.Context, id string) (adminapi.TransferInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	for i := range f.list {
		if f.list[i].ID == id {
			f.list[i].State = adminapi.TransferRevoked
			return f.list[i], nil
		}
	}
	return adminapi.TransferInfo{}, &adminapi.Error{Code: adminapi.CodeNotFound, Message: "no such transfer"}
}

// TestTransfersRevoke checks a revocation needs its confirmation, from the list and from
// the detail, and that the list shows the new state.
func TestTransfersRevoke(t *testing.T) {
	api := newFakeTransfers()
	d := newDriver(t, NewTransfers(api, testEnv(LangEN)))
	d.wantView("Contrat signé", "3 of 3 transfers")

	d.keys("r", "n")
	d.keys("r", "enter") // "no" has the focus
	if len(api.revoked) != 0 || d.s.Typing() {
		t.Fatalf("revoked %v without a confirmation", api.revoked)
	}
	d.keys("enter")
	d.wantView("contrat.pdf", "notaire@example.fr", "not notified", "ab12ab12")
	d.keys("r")
	d.wantView("Revoke the send")
	d.keys("y")
	if len(api.revoked) != 1 || api.revoked[0] != "s3" {
		t.Fatalf("revoked %v", api.revoked)
	}
	d.wantView("revoked")
	if len(d.toApp) == 0 {
		t.Fatal("no toast for the revocation")
	}
}

// TestTransfersLiveAndFilters checks the list reloads on every tick, that `f` cycles the
// state filter and that the filter form refuses a bad owner address.
func TestTransfersLiveAndFilters(t *testing.T) {
	api := newFakeTransfers()
	s := NewTransfers(api, testEnv(LangEN))
	s, _ = s.Update(TickMsg{Time: testNow})
	if len(api.queries) != 0 {
		t.Fatal("a tick loaded a screen never shown")
	}
	d := newDriver(t, s)
	n := len(api.queries)
	d.send(TickMsg{Time: testNow})
	if len(api.queries) != n+1 {
		t.Fatalf("a tick made %d loads", len(api.queries)-n)
	}
	d.keys("f")
	if q := api.queries[len(api.queries)-1]; q.State != adminapi.TransferActive {
		t.Fatalf("f asked %+v", q)
	}
	d.wantView("1 of 1 transfers", "filter: active")
	d.keys("esc", "/", "tab", "text:bob@", "ctrl+s")
	if !d.s.Typing() {
		t.Fatal("a bad owner address closed the filter form")
	}
	d.keys("text:example.org", "ctrl+s")
	if q := api.queries[len(api.queries)-1]; q.User != "bob@example.org" || q.State != "" {
		t.Fatalf("the filter asked %+v", q)
	}
	d.wantView("2 of 2 transfers", "Plans du")
	d.keys("d") // the first row is an upload: nothing to revoke
	if d.s.Typing() {
		t.Fatal("an upload in progress offered a revocation")
	}
}

// TestTransfersDateFilter checks the filter form's dates: a malformed day or an end before
// the start keeps the form open, and valid days ask the node for [since, until + 1 day).
func TestTransfersDateFilter(t *testing.T) {
	api := newFakeTransfers()
	d := newDriver(t, NewTransfers(api, testEnv(LangEN)))
	d.keys("/", "tab", "tab", "tab", "tab", "text:2026-13-01", "ctrl+s")
	if !d.s.Typing() {
		t.Fatal("a malformed date closed the filter form")
	}
	d.keys("backspace", "backspace", "backspace", "backspace", "backspace", "text:12-05", "tab", "text:2026-12-01", "ctrl+s")
	if !d.s.Typing() {
		t.Fatal("an end before the start closed the filter form")
	}
	d.keys("backspace", "backspace", "text:06", "ctrl+s")
	if d.s.Typing() {
		t.Fatal("valid dates kept the filter form open")
	}
	q := api.queries[len(api.queries)-1]
	loc := testNow.Location()
	if want := time.Date(2026, 12, 5, 0, 0, 0, 0, loc); !q.Since.Equal(want) {
		t.Errorf("since %v, want %v", q.Since, want)
	}
	if want := time.Date(2026, 12, 7, 0, 0, 0, 0, loc); !q.Until.Equal(want) {
		t.Errorf("until %v, want %v", q.Until, want)
	}
	d.wantView("≥ 2026-12-05", "≤ 2026-12-06")
}
