package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"valise/internal/poll"
)

// An administrator discards a mail kept in the outbox, moves another to the queue once a
// relay is set and sees it delivered, retries a failed one afresh, and sends a test mail
// through the real relay at once; each action is journalled with the administrator.
func TestAdminRetryDiscardSendNow(t *testing.T) {
	store := openStore(t)
	s := newSender(t, store, nil)
	s.Start()
	ctx := context.Background()
	kept, err := s.Enqueue(ctx, sendMessage(t, "fr"), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Enqueue(ctx, sendMessage(t, "en"), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Retry(ctx, kept.ID, "admin"); !errors.Is(err, ErrNoRelay) {
		t.Fatalf("retry without a relay = %v, want ErrNoRelay", err)
	}
	if _, err := s.SendNow(ctx, Message{Kind: KindTest, To: []string{"a@example.net"}, Subject: "t", Text: "t"}); !errors.Is(err, ErrNoRelay) {
		t.Fatalf("SendNow without a relay = %v, want ErrNoRelay", err)
	}
	if err := s.Discard(ctx, gone.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{gone.ID, "", strings.Repeat("x", 200)} {
		if err := s.Discard(ctx, id, "admin"); !errors.Is(err, ErrMailNotFound) {
			t.Fatalf("Discard(%.10q) = %v, want ErrMailNotFound", id, err)
		}
	}

	srv := startSMTP(t, "127.0.0.1:0")
	bad := srv.relay()
	bad.Password = "wrong"
	if err := s.SetRelay(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendNow(ctx, Message{Kind: KindTest, To: []string{"a@example.net"}, Subject: "t", Text: "t"}); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("SendNow with a wrong password = %v, want the relay's refusal", err)
	}
	if err := s.SetRelay(srv.relay()); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Retry(ctx, kept.ID, "admin")
	if err != nil || rec.State != StatePending || rec.Message.ID != kept.ID {
		t.Fatalf("Retry of the outbox mail = %+v, %v", rec, err)
	}
	if m := srv.next(t); len(m.To) != 1 || m.To[0] != "bob@example.net" {
		t.Fatalf("delivered %+v", m)
	}
	poll.UntilNil(t, "the retried mail recorded sent", func() error {
		q, err := s.Queue(ctx)
		if len(q) == 1 && q[0].State == StateSent {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})
	if _, err := s.Retry(ctx, kept.ID, "admin"); !errors.Is(err, ErrMailSent) {
		t.Fatalf("retrying a sent mail = %v, want ErrMailSent", err)
	}

	relay, err := s.SendNow(ctx, Message{Kind: KindTest, To: []string{"ops@example.net"}, Subject: "Test\r\nBcc: x@evil", Text: "it works"})
	if err != nil || relay.Host != "127.0.0.1" {
		t.Fatalf("SendNow = %+v, %v", relay, err)
	}
	m := srv.next(t)
	if len(m.To) != 1 || m.To[0] != "ops@example.net" || !m.TLS || !strings.Contains(string(m.Data), "it works") || strings.Contains(string(m.Data), "\nBcc:") {
		t.Fatalf("test mail %+v", m)
	}
	var actions []string
	for _, e := range journal(t, store) {
		if e.Actor == "admin" {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != "mail.discarded,mail.retry" {
		t.Fatalf("the administrator's entries: %v", actions)
	}
}

// The test mail is worded by the catalog in the language asked, French by default.
func TestTestMessage(t *testing.T) {
	for _, tc := range []struct{ lang, subject, body string }{
		{"en", "Malle: test mail", "sent by local administrator (uid 0) from the administrators' console of Malle"},
		{"", "Malle\u00a0: courriel de test", "envoyé par local administrator (uid 0) depuis la console"},
		{"de", "Malle\u00a0: courriel de test", "Le relais SMTP fonctionne."},
	} {
		m := TestMessage("ops@example.net", tc.lang, "Malle", "local administrator (uid 0)")
		if m.Subject != tc.subject || !strings.Contains(m.Text, tc.body) || m.Kind != KindTest || m.To[0] != "ops@example.net" {
			t.Errorf("TestMessage(%q) = %+v", tc.lang, m)
		}
	}
}
