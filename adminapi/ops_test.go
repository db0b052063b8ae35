package adminapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// opsStub is a stubService that also implements the transfers', journal's and mail routes
// over fixed data; its tail sends the entries after After, then one more once released.
type opsStub struct {
	stubService
	release chan struct{}
}

func (opsStub) ListTransfers(_ context.Context, q TransferQuery) (TransferPage, error) {
	return TransferPage{Transfers: []TransferInfo{{ID: "s1", Kind: TransferKindSend, Owner: q.User, State: q.State}}, Total: q.Limit}, nil
}

func (opsStub) GetTransfer(_ context.Context, id string) (TransferDetail, error) {
	if id != "s1" {
		return TransferDetail{}, Errorf(CodeNotFound, "no transfer %s", id)
	}
	return TransferDetail{TransferInfo: TransferInfo{ID: id}, Recipients: []TransferRecipient{{Email: "r@example.org", Downloads: 2}}}, nil
}

func (opsStub) RevokeTransfer(_ context.Context, id string) (TransferInfo, error) {
	return TransferInfo{ID: id, State: TransferRevoked}, nil
}

func (opsStub) Journal(_ context.Context, q JournalQuery) (JournalPage, error) {
	return JournalPage{Entries: []JournalEntry{{Seq: 9, Action: q.Action, Actor: q.Actor}}, Next: q.Before, Head: 9}, nil
}

func (s opsStub) TailJournal(ctx context.Context, q JournalQuery, fn func(JournalEntry) error) error {
	for seq := q.After + 1; seq <= 3; seq++ {
		if err := fn(JournalEntry{Seq: seq}); err != nil {
			return err
		}
	}
	select {
	case <-s.release:
		return fn(JournalEntry{Seq: 4, Action: "late"})
	case <-ctx.Done():
		return nil
	}
}

func (opsStub) ExportJournal(_ context.Context, q JournalQuery, w io.Writer) error {
	if q.Actor == "fail" {
		return Errorf(CodeUnavailable, "no leader")
	}
	_, err := fmt.Fprintf(w, "seq,time,actor,action,target,details,hash\n1,t,a,%s,,,h\n", q.Action)
	return err
}

func (opsStub) RetryMail(_ context.Context, id string) (OutboxMail, error) {
	return OutboxMail{ID: id, State: "pending"}, nil
}

func (opsStub) DiscardMail(_ context.Context, id string) error {
	if id != "m1" {
		return Errorf(CodeNotFound, "no mail %s", id)
	}
	return nil
}

func (opsStub) TestMail(_ context.Context, req MailTestRequest) (MailTestResult, error) {
	return MailTestResult{OK: true, Detail: "to " + req.To}, nil
}

func (opsStub) ValidateSetting(_ context.Context, key, value string) (Setting, error) {
	return Setting{Key: key, Value: value}, nil
}

func (opsStub) BackupNow(context.Context) (BackupRecord, error) { return BackupRecord{ID: "b1"}, nil }

// TestOpsRoutes drives the transfers', journal's and mail routes through the client over a
// socket: queries arrive parsed, errors keep their code, the tail streams entries as they
// come, and the export streams CSV or answers an error before its first byte.
func TestOpsRoutes(t *testing.T) {
	stub := opsStub{release: make(chan struct{})}
	c := serveService(t, stub)
	ctx := t.Context()
	var e *Error

	page, err := c.ListTransfers(ctx, TransferQuery{User: "a@example.org", State: TransferActive})
	if err != nil || len(page.Transfers) != 1 || page.Transfers[0].Owner != "a@example.org" || page.Transfers[0].State != TransferActive || page.Total != defaultLimit {
		t.Fatalf("ListTransfers = %+v, %v", page, err)
	}
	if _, err := c.ListTransfers(ctx, TransferQuery{State: "sideways"}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("a bad state = %v, want bad_request", err)
	}
	if d, err := c.GetTransfer(ctx, "s1"); err != nil || len(d.Recipients) != 1 || d.Recipients[0].Downloads != 2 {
		t.Fatalf("GetTransfer = %+v, %v", d, err)
	}
	if _, err := c.GetTransfer(ctx, "nope"); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("GetTransfer(nope) = %v", err)
	}
	if ti, err := c.RevokeTransfer(ctx, "s1"); err != nil || ti.State != TransferRevoked {
		t.Fatalf("RevokeTransfer = %+v, %v", ti, err)
	}

	jp, err := c.Journal(ctx, JournalQuery{Action: "user.", Actor: "uid", Before: 5})
	if err != nil || jp.Entries[0].Action != "user." || jp.Entries[0].Actor != "uid" || jp.Next != 5 {
		t.Fatalf("Journal = %+v, %v", jp, err)
	}
	var buf bytes.Buffer
	if _, err := c.ExportJournal(ctx, JournalQuery{Action: "send.revoke"}, &buf); err != nil || !bytes.Contains(buf.Bytes(), []byte(",send.revoke,")) {
		t.Fatalf("ExportJournal = %q, %v", buf.String(), err)
	}
	if _, err := c.ExportJournal(ctx, JournalQuery{Actor: "fail"}, io.Discard); !errors.As(err, &e) || e.Code != CodeUnavailable {
		t.Fatalf("a failed export = %v, want unavailable", err)
	}

	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got []uint64
	err = c.TailJournal(tctx, JournalQuery{After: 1}, func(e JournalEntry) error {
		got = append(got, e.Seq)
		if e.Seq == 3 {
			close(stub.release) // the next one comes only once the first ones arrived
		}
		if e.Seq == 4 {
			cancel()
		}
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []uint64{2, 3, 4}) {
		t.Fatalf("TailJournal = %v, %v", got, err)
	}

	if m, err := c.RetryMail(ctx, "m1"); err != nil || m.ID != "m1" {
		t.Fatalf("RetryMail = %+v, %v", m, err)
	}
	if err := c.DiscardMail(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DiscardMail(ctx, "m2"); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("DiscardMail(m2) = %v", err)
	}
	if r, err := c.TestMail(ctx, MailTestRequest{To: "x@example.org"}); err != nil || !r.OK {
		t.Fatalf("TestMail = %+v, %v", r, err)
	}
	if _, err := c.TestMail(ctx, MailTestRequest{To: "x@example.org", Lang: "de"}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("TestMail in German = %v", err)
	}
	if s, err := c.ValidateSetting(ctx, "smtp.port", "25"); err != nil || s.Value != "25" {
		t.Fatalf("ValidateSetting = %+v, %v", s, err)
	}
	if r, err := c.BackupNow(ctx); err != nil || r.ID != "b1" {
		t.Fatalf("BackupNow = %+v, %v", r, err)
	}
	// A Service without them has none of these routes.
	if _, err := serve(t).ListTransfers(ctx, TransferQuery{}); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("transfers on a plain service = %v", err)
	}
}

// FuzzParseQueries checks the query parsers on any query string: they never panic, and what
// they accept survives the client's encoding unchanged.
func FuzzParseQueries(f *testing.F) {
	f.Add("user=a%40example.org&state=active&since=2026-01-02T03:04:05Z&limit=5&offset=10")
	f.Add("action=user.&actor=uid&before=12&after=3&q=hello&until=2026-01-02T03:04:05%2B02:00")
	f.Add("limit=0&offset=-1&kind=upload")
	f.Add("since=2026-01-02T03:04:05.999Z")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if tq, err := ParseTransferQuery(v); err == nil {
			if tq.Limit < 1 || tq.Limit > maxPageLimit || tq.Offset < 0 {
				t.Fatalf("accepted %+v", tq)
			}
			back, err := ParseTransferQuery(tq.values())
			if err != nil || !sameTransferQuery(back, tq) {
				t.Fatalf("round trip of %+v: %+v, %v", tq, back, err)
			}
		}
		if jq, err := ParseJournalQuery(v); err == nil {
			back, err := ParseJournalQuery(jq.values())
			if err != nil || !back.Since.Equal(jq.Since) || !back.Until.Equal(jq.Until) {
				t.Fatalf("round trip of %+v: %+v, %v", jq, back, err)
			}
			back.Since, back.Until, jq.Since, jq.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if back != jq {
				t.Fatalf("round trip of %+v: %+v", jq, back)
			}
		}
	})
}

func sameTransferQuery(a, b TransferQuery) bool {
	if !a.Since.Equal(b.Since) || !a.Until.Equal(b.Until) {
		return false
	}
	a.Since, a.Until, b.Since, b.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}
