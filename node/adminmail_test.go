package node

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/emersion/go-smtp"

	"valise/adminapi"
	"valise/notify"
)

// plainRelay is a real SMTP relay (go-smtp) on 127.0.0.1 without TLS or authentication, as
// smtp.tls "none" reaches one; each mail's recipients and data arrive on mails.
type plainRelay struct {
	port  int
	mails chan relayed
}

type relayed struct {
	to   []string
	data string
}

func startPlainRelay(t *testing.T) *plainRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &plainRelay{port: ln.Addr().(*net.TCPAddr).Port, mails: make(chan relayed, 8)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return r
}

// next waits for the next mail the relay accepted.
func (r *plainRelay) next(t *testing.T) relayed {
	t.Helper()
	select {
	case m := <-r.mails:
		return m
	case <-time.After(time.Minute): // a hang guard only
		t.Fatal("no mail reached the relay")
	}
	return relayed{}
}

type relaySession struct {
	r  *plainRelay
	to []string
}

func (x *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.r.mails <- relayed{to: x.to, data: string(b)}
	x.to = nil
	return nil
}
func (x *relaySession) Reset()        { x.to = nil }
func (x *relaySession) Logout() error { return nil }

// TestAdminMailAndBackupNow drives the console's mail queue actions, its test mail through a
// real relay, the setting check and a backup now, through the admin socket; each change is
// journalled with the caller.
func TestAdminMailAndBackupNow(t *testing.T) {
	h := newHealNode(t, 1, "")
	c, ctx, n := h.c, t.Context(), h.n
	var e *adminapi.Error

	res, err := c.TestMail(ctx, adminapi.MailTestRequest{To: "ops@example.org"})
	if err != nil || res.OK || !strings.Contains(res.Detail, "no relay") {
		t.Fatalf("test mail without a relay = %+v, %v", res, err)
	}
	if _, err := c.TestMail(ctx, adminapi.MailTestRequest{To: "not an address"}); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
		t.Fatalf("test mail to a bad address = %v", err)
	}
	enqueue := func(to string) string {
		m, err := n.mail.Enqueue(ctx, notify.Message{Kind: notify.KindSend, Lang: "en", To: []string{to}, Subject: "Files for " + to, Text: "link"}, "system")
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	kept, dropped := enqueue("bob@example.org"), enqueue("eve@example.org")
	if _, err := c.RetryMail(ctx, kept); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue || !strings.Contains(e.Message, "smtp.host") {
		t.Fatalf("retry without a relay = %v", err)
	}
	if err := c.DiscardMail(ctx, dropped); err != nil {
		t.Fatal(err)
	}
	if err := c.DiscardMail(ctx, dropped); !errors.As(err, &e) || e.Code != adminapi.CodeNotFound {
		t.Fatalf("discarding twice = %v", err)
	}

	relay := startPlainRelay(t)
	for k, v := range map[string]string{"smtp.host": "127.0.0.1", "smtp.port": strconv.Itoa(relay.port), "smtp.tls": "none"} {
		if _, err := c.SetSetting(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	res, err = c.TestMail(ctx, adminapi.MailTestRequest{To: "ops@example.org", Lang: "en"})
	if err != nil || !res.OK || !strings.Contains(res.Detail, "127.0.0.1:"+strconv.Itoa(relay.port)) {
		t.Fatalf("test mail = %+v, %v", res, err)
	}
	if m := relay.next(t); len(m.to) != 1 || m.to[0] != "ops@example.org" || !strings.Contains(m.data, "test mail") {
		t.Fatalf("test mail received %+v", m)
	}
	om, err := c.RetryMail(ctx, kept)
	if err != nil || om.State != "pending" {
		t.Fatalf("retry = %+v, %v", om, err)
	}
	if m := relay.next(t); len(m.to) != 1 || m.to[0] != "bob@example.org" {
		t.Fatalf("retried mail received %+v", m)
	}

	t.Run("validate setting", func(t *testing.T) {
		if s, err := c.ValidateSetting(ctx, "smtp.password", "hunter2"); err != nil || s.Value != "(set)" || !s.Secret || s.Group != "mail" {
			t.Fatalf("secret = %+v, %v", s, err)
		}
		if s, err := c.ValidateSetting(ctx, "smtp.tls", "tls"); err != nil || len(s.Choices) != 3 || s.Kind != "choice" {
			t.Fatalf("choice = %+v, %v", s, err)
		}
		if _, err := c.ValidateSetting(ctx, "smtp.port", "0"); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue {
			t.Fatalf("bad port = %v", err)
		}
		if _, err := c.ValidateSetting(ctx, "no.such", "x"); !errors.As(err, &e) || e.Code != adminapi.CodeUnknownSetting {
			t.Fatalf("unknown = %v", err)
		}
		if s, _ := c.Setting(ctx, "smtp.tls"); s.Value != "none" {
			t.Fatalf("validating stored something: smtp.tls %q", s.Value)
		}
	})

	t.Run("backup now", func(t *testing.T) {
		if _, err := c.BackupNow(ctx); !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue || !strings.Contains(e.Message, "backup.dir") {
			t.Fatalf("backup now unconfigured = %v", err)
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for k, v := range map[string]string{"backup.dir": dir, "backup.recipient": id.Recipient().String()} {
			if _, err := c.SetSetting(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
		rec, err := c.BackupNow(ctx)
		if err != nil || rec.Scheduled || rec.Size == 0 || !strings.HasPrefix(rec.Path, dir+"/") {
			t.Fatalf("backup now = %+v, %v", rec, err)
		}
		if fi, err := os.Stat(rec.Path); err != nil || fi.Size() != rec.Size {
			t.Fatalf("backup file: %v, %v", fi, err)
		}
		l, err := c.Backups(ctx)
		if err != nil || len(l.Backups) == 0 || l.Backups[0].ID != rec.ID {
			t.Fatalf("backups %+v, %v", l, err)
		}
	})

	cctx := adminapi.WithCaller(context.Background(), adminapi.Caller{Name: "ws1", Role: adminapi.RoleSupervisor})
	if _, err := (&adminService{n: n}).TestMail(cctx, adminapi.MailTestRequest{To: "ops@example.org"}); err != nil {
		t.Fatal(err)
	}
	relay.next(t)
	want := map[string]int{"mail.test": 3, "mail.retry": 1, "mail.discarded": 1, "backup.now": 1}
	for action, count := range want {
		p, err := c.Journal(ctx, adminapi.JournalQuery{Action: action})
		if err != nil || len(p.Entries) != count {
			t.Errorf("%s entries %+v, %v; want %d", action, p.Entries, err, count)
		}
	}
	if p, _ := c.Journal(ctx, adminapi.JournalQuery{Action: "mail.test", Limit: 1}); len(p.Entries) != 1 || p.Entries[0].Actor != "admin certificate ws1 (supervisor)" {
		t.Fatalf("the last test mail's entry %+v", p.Entries)
	}
}
