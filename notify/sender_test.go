package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"valise/internal/poll"
)

func testConfig(relay *Relay) Config {
	cfg := DefaultConfig()
	cfg.From = "valise@example.org"
	cfg.Relay = relay
	cfg.RetryMin = 20 * time.Millisecond
	cfg.RetryMax = 100 * time.Millisecond
	cfg.PollInterval = 50 * time.Millisecond
	cfg.SendTimeout = 10 * time.Second
	return cfg
}

func newSender(t *testing.T, store Store, relay *Relay) *Sender {
	t.Helper()
	s, err := New(testConfig(relay), store, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// sendMessage renders a send notification to bob.
func sendMessage(t *testing.T, lang string) Message {
	t.Helper()
	m, err := Render(KindSend, lang, "", sendData())
	if err != nil {
		t.Fatal(err)
	}
	m.To = []string{"bob@example.net"}
	m.Ref = "send-123"
	return m
}

// parsedMail is a received mail taken apart with net/mail and mime/multipart.
type parsedMail struct {
	header mail.Header
	parts  map[string]string // content type → decoded body
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q, %v", msg.Header.Get("Content-Type"), err)
	}
	p := parsedMail{header: msg.Header, parts: map[string]string{}}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.parts[ct] = string(b)
	}
	return p
}

func (p parsedMail) decoded(t *testing.T, name string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(p.header.Get(name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDeliverThroughSMTPRelay(t *testing.T) {
	store := openStore(t)
	srv := startSMTP(t, "127.0.0.1:0")
	s := newSender(t, store, srv.relay())
	s.Start()
	ctx := context.Background()
	msg, err := s.Enqueue(ctx, sendMessage(t, "fr"), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)
	if !got.TLS || got.Auth != smtpUser {
		t.Fatalf("mail arrived without STARTTLS (%v) or authentication (%q)", got.TLS, got.Auth)
	}
	if got.From != "valise@example.org" || len(got.To) != 1 || got.To[0] != "bob@example.net" {
		t.Fatalf("envelope from %q to %q", got.From, got.To)
	}
	p := parseMail(t, got.Data)
	from, err := mail.ParseAddress(p.decoded(t, "From"))
	if err != nil || from.Name != "Alice Martin via Valise" || from.Address != "valise@example.org" {
		t.Fatalf("From %q (%v)", p.header.Get("From"), err)
	}
	if subj := p.decoded(t, "Subject"); subj != "Contrats 2027" {
		t.Fatalf("Subject %q", subj)
	}
	if id := p.header.Get("Message-Id"); id != "<"+msg.ID+"@example.org>" {
		t.Fatalf("Message-ID %q", id)
	}
	if rt := p.header.Get("Reply-To"); !strings.Contains(rt, "alice@example.org") {
		t.Fatalf("Reply-To %q", rt)
	}
	link := "https://valise.example.org/s/Tok3nTok3nTok3n"
	for _, ct := range []string{"text/plain", "text/html"} {
		if !strings.Contains(p.parts[ct], link) {
			t.Fatalf("%s part lacks the link:\n%s", ct, p.parts[ct])
		}
	}
	if !strings.Contains(p.parts["text/plain"], "1,5\u00a0Mo") || !strings.Contains(p.parts["text/html"], "contrat.pdf") {
		t.Fatalf("parts lack the files:\n%s", p.parts["text/plain"])
	}

	// The record says sent, without the bodies (they carry the link token).
	poll.UntilNil(t, "the record marked sent", func() error {
		q, err := s.Queue(ctx)
		if err == nil && len(q) == 1 && q[0].State == StateSent {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})
	q, _ := s.Queue(ctx)
	if q[0].Message.Text != "" || q[0].Message.HTML != "" || q[0].Attempts != 1 {
		t.Fatalf("sent record keeps bodies or counts %d attempts", q[0].Attempts)
	}
	// Journalled: queued, attempt, sent; no link token in any detail.
	var actions []string
	for _, e := range journal(t, store) {
		if e.Target != msg.ID {
			continue
		}
		actions = append(actions, e.Action)
		if strings.Contains(string(e.Details), "Tok3n") || strings.Contains(string(e.Details), "bob@") {
			t.Fatalf("journal details leak the link or an address: %s", e.Details)
		}
	}
	if strings.Join(actions, ",") != "mail.queued,mail.attempt,mail.sent" {
		t.Fatalf("journal actions %v", actions)
	}
}

func describe(q []Record) string {
	b, _ := json.Marshal(q)
	return string(b)
}

func TestRelayDownIsRetriedThenDelivered(t *testing.T) {
	store := openStore(t)
	// A port with nothing listening: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	_, pool := selfSigned(t)
	relay := &Relay{Host: "127.0.0.1", Port: port, TLS: TLSMandatory, Auth: AuthPlain,
		Username: smtpUser, Password: smtpPass, RootCAs: pool, Timeout: 2 * time.Second}
	s := newSender(t, store, relay)
	s.Start()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, sendMessage(t, "en"), "user-1"); err != nil {
		t.Fatal(err)
	}
	poll.UntilNil(t, "retries recorded", func() error {
		q, err := s.Queue(ctx)
		if err == nil && len(q) == 1 && q[0].Attempts >= 3 && q[0].State == StatePending && q[0].LastError != "" {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})

	srv := startSMTP(t, addr)
	if err := s.SetRelay(srv.relay()); err != nil { // same address, the new server's certificate
		t.Fatal(err)
	}
	got := srv.next(t)
	p := parseMail(t, got.Data)
	if !strings.Contains(p.parts["text/plain"], "https://valise.example.org/s/") {
		t.Fatalf("delivered mail lacks the link")
	}
	poll.UntilNil(t, "the record marked sent", func() error {
		q, err := s.Queue(ctx)
		if len(q) == 1 && q[0].State == StateSent {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})
	failed := 0
	for _, e := range journal(t, store) {
		if e.Action == ActionFailed {
			failed++
		}
	}
	if failed < 3 {
		t.Fatalf("%d mail.failed journal entries, want one per failed attempt", failed)
	}
}

func TestFailedAfterMaxAttempts(t *testing.T) {
	store := openStore(t)
	srv := startSMTP(t, "127.0.0.1:0")
	relay := srv.relay()
	relay.Password = "wrong"
	cfg := testConfig(relay)
	cfg.MaxAttempts = 2
	s, err := New(cfg, store, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.Start()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, sendMessage(t, "en"), "user-1"); err != nil {
		t.Fatal(err)
	}
	poll.UntilNil(t, "the record marked failed", func() error {
		q, err := s.Queue(ctx)
		if len(q) == 1 && q[0].State == StateFailed {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})
	q, _ := s.Queue(ctx)
	if q[0].Attempts != 2 || q[0].LastError == "" {
		t.Fatalf("record %+v", q[0])
	}
}

func TestOutboxKeepsMessagesWithoutRelay(t *testing.T) {
	store := openStore(t)
	s := newSender(t, store, nil)
	s.Start()
	ctx := context.Background()
	first, err := s.Enqueue(ctx, sendMessage(t, "fr"), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	code, err := Render(KindVerifyCode, "en", "", CodeData{SenderName: "Alice", Code: "123456", ValidFor: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	code.To = []string{"carol@example.net"}
	if _, err := s.Enqueue(ctx, code, "system"); err != nil {
		t.Fatal(err)
	}
	out, err := s.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].ID != first.ID || !strings.Contains(out[0].Text, "/s/Tok3n") || !strings.Contains(out[1].Text, "123456") {
		t.Fatalf("outbox %+v", out)
	}
	if q, err := s.Queue(ctx); err != nil || len(q) != 0 {
		t.Fatalf("queue %v, %v: outbox messages must not be queued for a relay", q, err)
	}
	if _, err := store.Get([]byte(OutboxPrefix + first.ID)); err != nil {
		t.Fatalf("outbox key: %v", err)
	}
	var queued int
	for _, e := range journal(t, store) {
		if e.Action == ActionQueued {
			queued++
			if !strings.Contains(string(e.Details), `"outbox":true`) {
				t.Fatalf("details %s", e.Details)
			}
		}
	}
	if queued != 2 {
		t.Fatalf("%d mail.queued entries", queued)
	}
}

// TestHeaderInjectionReachesNoHeader sends a subject and a sender name with CR/LF and a
// smuggled Bcc through a real relay: the mail has one recipient and no injected header.
func TestHeaderInjectionReachesNoHeader(t *testing.T) {
	store := openStore(t)
	srv := startSMTP(t, "127.0.0.1:0")
	s := newSender(t, store, srv.relay())
	s.Start()
	d := sendData()
	d.Subject = "Hi\r\nBcc: victim@example.net\r\nX-Evil: yes"
	d.SenderName = "Mallory\r\nX-Evil: from"
	d.Message = "line\r\n.\r\nMAIL FROM:<x@y>\r\n"
	m, err := Render(KindSend, "en", "", d)
	if err != nil {
		t.Fatal(err)
	}
	m.To = []string{"bob@example.net"}
	if _, err := s.Enqueue(context.Background(), m, "user-1"); err != nil {
		t.Fatal(err)
	}
	got := srv.next(t)
	if len(got.To) != 1 || got.To[0] != "bob@example.net" {
		t.Fatalf("recipients %q", got.To)
	}
	p := parseMail(t, got.Data)
	if p.header.Get("X-Evil") != "" || p.header.Get("Bcc") != "" {
		t.Fatalf("injected header arrived: %v", p.header)
	}
	if subj := p.decoded(t, "Subject"); subj != "Hi Bcc: victim@example.net X-Evil: yes" {
		t.Fatalf("Subject %q", subj)
	}
}

func TestEnqueueRejectsBadAddresses(t *testing.T) {
	store := openStore(t)
	s := newSender(t, store, nil)
	for _, tc := range []struct {
		name string
		mod  func(*Message)
	}{
		{"no recipient", func(m *Message) { m.To = nil }},
		{"crlf in address", func(m *Message) { m.To = []string{"bob@example.net\r\nRCPT TO:<x@y.z>"} }},
		{"display name", func(m *Message) { m.To = []string{"Bob <bob@example.net>"} }},
		{"two addresses in one", func(m *Message) { m.Cc = []string{"a@b.c, d@e.f"} }},
		{"not an address", func(m *Message) { m.Bcc = []string{"bob"} }},
		{"bad reply-to", func(m *Message) { m.ReplyTo = "x\n@y" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sendMessage(t, "en")
			tc.mod(&m)
			if _, err := s.Enqueue(context.Background(), m, "user-1"); !errors.Is(err, ErrBadAddress) {
				t.Fatalf("Enqueue error %v, want ErrBadAddress", err)
			}
		})
	}
}

func TestRelayCertificateIsVerified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		roots     bool
		insecure  bool
		delivered bool
	}{
		{"unknown certificate refused", false, false, false},
		{"test-only skip verify", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t)
			srv := startSMTP(t, "127.0.0.1:0")
			relay := srv.relay()
			if !tc.roots {
				relay.RootCAs = nil
			}
			relay.InsecureSkipVerifyForTestsOnly = tc.insecure
			s := newSender(t, store, relay)
			s.Start()
			ctx := context.Background()
			if _, err := s.Enqueue(ctx, sendMessage(t, "en"), "user-1"); err != nil {
				t.Fatal(err)
			}
			poll.UntilNil(t, "an outcome", func() error {
				q, err := s.Queue(ctx)
				if len(q) == 1 && (q[0].State == StateSent || q[0].LastError != "") {
					return nil
				}
				return fmt.Errorf("queue %s, %v", describe(q), err)
			})
			q, _ := s.Queue(ctx)
			if sent := q[0].State == StateSent; sent != tc.delivered {
				t.Fatalf("sent %v, want %v (last error %q)", sent, tc.delivered, q[0].LastError)
			}
			if !tc.delivered && !strings.Contains(q[0].LastError, "certificate") {
				t.Fatalf("last error %q does not name the certificate", q[0].LastError)
			}
		})
	}
}

func TestStopWaitsAndRefuses(t *testing.T) {
	store := openStore(t)
	s := newSender(t, store, nil)
	s.Start()
	s.Stop()
	if _, err := s.Enqueue(context.Background(), sendMessage(t, "en"), "x"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Enqueue after Stop: %v", err)
	}
	s.Stop() // twice is fine
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no from", func(c *Config) { c.From = "" }},
		{"from with name", func(c *Config) { c.From = "Valise <v@x.org>" }},
		{"relay without host", func(c *Config) { c.Relay = &Relay{} }},
		{"bad tls policy", func(c *Config) { c.Relay = &Relay{Host: "h", TLS: "sometimes"} }},
		{"auth in clear", func(c *Config) { c.Relay = &Relay{Host: "h", TLS: TLSOpportunistic, Auth: AuthPlain} }},
		{"retry max below min", func(c *Config) { c.RetryMin, c.RetryMax = time.Hour, time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(nil)
			tc.mod(&cfg)
			if err := cfg.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

func TestOldDoneRecordsArePurged(t *testing.T) {
	store := openStore(t)
	srv := startSMTP(t, "127.0.0.1:0")
	cfg := testConfig(srv.relay())
	cfg.KeepDone = time.Nanosecond
	s, err := New(cfg, store, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	s.Start()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, sendMessage(t, "en"), "user-1"); err != nil {
		t.Fatal(err)
	}
	srv.next(t)
	poll.UntilNil(t, "the sent record purged", func() error {
		q, err := s.Queue(ctx)
		if err == nil && len(q) == 0 {
			return nil
		}
		return fmt.Errorf("queue %s, %v", describe(q), err)
	})
	var actions []string
	for _, e := range journal(t, store) {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "mail.queued,mail.attempt,mail.sent,mail.purged" {
		t.Fatalf("journal %s", got)
	}
}
