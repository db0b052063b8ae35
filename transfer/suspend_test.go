package transfer

import (
	"errors"
	"slices"
	"testing"
	"time"

	"valise/raftfsm"
)

// suspendAt writes SuspendKey as a restore with --suspend-links does, value as given.
func (e *env) suspendAt(value []byte) {
	e.t.Helper()
	_, err := e.meta.Propose(e.ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(SuspendKey), Value: value}},
		Audit: raftfsm.Audit{Time: e.clock.Now(), Actor: "test", Action: "restore.suspend_links"},
	})
	if err != nil {
		e.t.Fatalf("write %s: %v", SuspendKey, err)
	}
}

// journalActions returns the actions journalled on target, in order.
func (e *env) journalActions(target string) []string {
	e.t.Helper()
	var out []string
	if err := e.meta.Journal(1, func(en raftfsm.Entry) error {
		if en.Target == target {
			out = append(out, en.Action)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestSuspendedLinks guards issue 19's rule: after a restore with --suspend-links, every
// recipient access to a send created before the backup is refused with ErrSuspended until
// its sender confirms it; sends made after are not affected, and revoked or expired sends
// stay dead (suspension never revives anything).
func TestSuspendedLinks(t *testing.T) {
	e := newEnv(t)
	f := e.upload(owner, "a.bin", randomData(300, 1), VerdictClean)
	to := []string{"bob@example.org"}
	old := e.send(owner, []File{f}, to, Options{})
	withPw := e.send(owner, []File{f}, to, Options{Password: "a long password"})
	withCode := e.send(owner, []File{f}, to, Options{EmailCode: true})
	revoked := e.send(owner, []File{f}, to, Options{})
	if err := e.svc.Revoke(e.ctx, owner, revoked.Send.ID); err != nil {
		t.Fatal(err)
	}
	expired := e.send(owner, []File{f}, to, Options{Expiry: time.Hour})
	e.clock.Advance(2 * time.Hour)
	e.suspendAt(SuspendValue(e.clock.Now()))
	e.clock.Advance(time.Minute)
	fresh := e.send(owner, []File{f}, to, Options{})

	const ip = "192.0.2.1"
	calls := []struct {
		name string
		call func(token string) error
	}{
		{"OpenLink", func(tk string) error { _, err := e.svc.OpenLink(e.ctx, tk, "", ip); return err }},
		{"StartDownload", func(tk string) error { _, err := e.svc.StartDownload(e.ctx, tk, "", f.ID, ip, false); return err }},
		{"CheckLinkPassword", func(tk string) error {
			_, err := e.svc.CheckLinkPassword(e.ctx, tk, "", "a long password", ip)
			return err
		}},
		{"IssueEmailCode", func(tk string) error { _, err := e.svc.IssueEmailCode(e.ctx, tk); return err }},
		{"CheckEmailCode", func(tk string) error { _, err := e.svc.CheckEmailCode(e.ctx, tk, "", "000000", ip); return err }},
	}
	for _, tc := range []struct {
		name      string
		send      Created
		want      error // for the calls that apply; nil: served
		suspended bool  // Send.Suspended as its sender reads it
	}{
		{"created before", old, ErrSuspended, true},
		{"with a password, created before", withPw, ErrSuspended, true},
		{"with an e-mail code, created before", withCode, ErrSuspended, true},
		{"revoked stays revoked", revoked, ErrLinkNotFound, false},
		{"expired stays expired", expired, ErrLinkNotFound, false},
		{"created after", fresh, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.send.Invitations[0].Token
			for _, c := range calls {
				err := c.call(token)
				switch {
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("%s = %v, want %v", c.name, err, tc.want)
				case tc.want == nil && err != nil && !errors.Is(err, ErrNotRequired) && !errors.Is(err, ErrWrongCode):
					t.Errorf("%s = %v, want it served", c.name, err)
				}
			}
			s, err := e.svc.GetSend(e.ctx, owner, tc.send.Send.ID)
			if err != nil || s.Suspended != tc.suspended {
				t.Errorf("GetSend: suspended %v, %v; want %v", s.Suspended, err, tc.suspended)
			}
		})
	}
	list, err := e.svc.ListSends(e.ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	var listed []SendID
	for _, s := range list {
		if s.Suspended {
			listed = append(listed, s.ID)
		}
	}
	if want := []SendID{withCode.Send.ID, withPw.Send.ID, old.Send.ID}; !slices.Equal(listed, want) {
		t.Errorf("ListSends shows suspended %v, want %v", listed, want)
	}

	// Only the owner confirms; another user's confirmation is "no such send" and changes
	// nothing.
	if err := e.svc.Confirm(e.ctx, "mallory", old.Send.ID); !errors.Is(err, ErrSendNotFound) {
		t.Fatalf("Confirm by another user = %v, want ErrSendNotFound", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, old.Invitations[0].Token, "", ip); !errors.Is(err, ErrSuspended) {
		t.Fatalf("OpenLink after another user's confirmation = %v", err)
	}

	// The owner confirms: the link works again, the time is kept, the journal says so; a
	// second confirmation changes nothing.
	e.clock.Advance(time.Minute)
	for range 2 {
		if err := e.svc.Confirm(e.ctx, owner, old.Send.ID); err != nil {
			t.Fatalf("Confirm: %v", err)
		}
	}
	if _, err := e.svc.OpenLink(e.ctx, old.Invitations[0].Token, "", ip); err != nil {
		t.Fatalf("OpenLink after confirmation: %v", err)
	}
	e.download(old.Invitations[0].Token, "", f, true)
	s, err := e.svc.GetSend(e.ctx, owner, old.Send.ID)
	if err != nil || s.Suspended || !s.ConfirmedAt.Equal(e.clock.Now()) {
		t.Fatalf("confirmed send: suspended %v, confirmed at %v, %v", s.Suspended, s.ConfirmedAt, err)
	}
	confirms := slices.DeleteFunc(e.journalActions(string(old.Send.ID)), func(a string) bool { return a != "send.confirm" })
	if len(confirms) != 1 {
		t.Fatalf("journal holds %d send.confirm entries, want 1", len(confirms))
	}
	// The others stay suspended.
	if _, err := e.svc.OpenLink(e.ctx, withPw.Invitations[0].Token, "", ip); !errors.Is(err, ErrSuspended) {
		t.Fatalf("another send after one's confirmation = %v", err)
	}

	// Confirming never revives: a revoked send stays revoked, and nothing is recorded.
	if err := e.svc.Confirm(e.ctx, owner, revoked.Send.ID); err != nil {
		t.Fatalf("Confirm of a revoked send: %v", err)
	}
	if s, _ := e.svc.GetSend(e.ctx, owner, revoked.Send.ID); s.State != StatusRevoked || !s.ConfirmedAt.IsZero() {
		t.Fatalf("revoked send after Confirm: %s, confirmed at %v", s.State, s.ConfirmedAt)
	}
	if slices.Contains(e.journalActions(string(revoked.Send.ID)), "send.confirm") {
		t.Fatal("Confirm of a revoked send journalled")
	}

	// A later restore from a backup taken after the confirmation suspends the send again.
	e.clock.Advance(time.Hour)
	e.suspendAt(SuspendValue(e.clock.Now()))
	if _, err := e.svc.OpenLink(e.ctx, old.Invitations[0].Token, "", ip); !errors.Is(err, ErrSuspended) {
		t.Fatalf("OpenLink after a second restore = %v, want ErrSuspended", err)
	}
}

// TestSuspendValue checks the forms of SuspendKey's value that are read, and that a value
// that is no time is an error rather than a silent "nothing suspended".
func TestSuspendValue(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		value string
		want  time.Time
		err   bool
	}{
		{"SuspendValue", string(SuspendValue(at.In(time.FixedZone("CET", 3600)))), at, false},
		{"seconds", "2026-11-23T12:00:00Z", at, false},
		{"JSON string", `"2026-11-23T12:00:00Z"`, at, false},
		{"offset", "2026-11-23T13:00:00+01:00", at, false},
		{"not a time", "yesterday", time.Time{}, true},
		{"empty", "", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.suspendAt([]byte(tc.value))
			got, err := e.svc.suspendBefore()
			if (err != nil) != tc.err || !got.Equal(tc.want) {
				t.Fatalf("suspendBefore = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}
