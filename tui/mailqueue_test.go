package tui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
)

// fakeOutbox is the mail queue of the settings fake: one mail in each state.
func fakeOutbox() []adminapi.OutboxMail {
	at := func(d time.Duration) string { return testNow.Add(-d).Format(time.RFC3339) }
	return []adminapi.OutboxMail{
		{ID: "m-7a1", State: "failed", Kind: "send", Lang: "fr", From: "Valise", To: []string{"claire.martin@example.org"},
			Subject: "Rapport annuel 2026", Created: at(3 * time.Hour), Attempts: 5, Error: "550 5.1.1 mailbox unavailable",
			Text: "Bonjour,\n\nPaul Durand vous envoie 2 fichiers : Rapport annuel 2026.\n\nhttps://valise.example.org/s/AbC123\n\nCe lien expire le 2026-12-08."},
		{ID: "m-7a2", State: "pending", Kind: "receipt", Lang: "en", From: "Valise", To: []string{"paul@example.com"},
			Subject: "Your send was downloaded", Created: at(20 * time.Minute), Attempts: 1, Error: "421 4.7.0 try again later",
			Text: "claire.martin@example.org downloaded your send."},
		{ID: "m-7a3", State: "outbox", Kind: "verify_code", Lang: "fr", From: "Valise", To: []string{"ana@example.net"},
			Subject: "Votre code", Created: at(5 * time.Minute), HTML: "<p>482 913</p>"},
		{ID: "m-7a4", State: "sent", Kind: "send", Lang: "fr", From: "Valise", To: []string{"jean@example.org"},
			Subject: "Contrats signés", Created: at(26 * time.Hour), Attempts: 1},
	}
}

func (f *settingsFake) Outbox(context.Context) (adminapi.Outbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return adminapi.Outbox{Mails: slices.Clone(f.outbox)}, nil
}

// RetryMail queues a mail again as the node does: a sent one is refused.
func (f *settingsFake) RetryMail(_ context.Context, id string) (adminapi.OutboxMail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mailOps = append(f.mailOps, "retry "+id)
	for i, m := range f.outbox {
		if m.ID != id {
			continue
		}
		if m.State == "sent" {
			return adminapi.OutboxMail{}, adminapi.Errorf(adminapi.CodeConflict, "mail %s was sent already", id)
		}
		f.outbox[i].State, f.outbox[i].Error = "pending", ""
		return f.outbox[i], nil
	}
	return adminapi.OutboxMail{}, adminapi.Errorf(adminapi.CodeNotFound, "no mail has the ID %s", id)
}

func (f *settingsFake) DiscardMail(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mailOps = append(f.mailOps, "discard "+id)
	for i, m := range f.outbox {
		if m.ID == id {
			f.outbox = slices.Delete(f.outbox, i, i+1)
			return nil
		}
	}
	return adminapi.Errorf(adminapi.CodeNotFound, "no mail has the ID %s", id)
}

// openTestQueue returns a Settings screen over f with its mail queue open and loaded.
func openTestQueue(t *testing.T, f *settingsFake, lang Lang) Screen {
	t.Helper()
	s, out := pressKeys(t, newTestSettings(t, f, lang, 120, 30), "m")
	if len(out) > 0 || s.(*Settings).queue == nil {
		t.Fatalf("m did not open the mail queue: sent %v", out)
	}
	return s
}

// selectMail moves the queue's cursor to the mail id.
func selectMail(t *testing.T, s Screen, id string) Screen {
	t.Helper()
	s, _ = settle(t, s, keyMsg("home"))
	for range 10 {
		if row, ok := s.(*Settings).queue.table.Selected(); ok && row.ID == id {
			return s
		}
		s, _ = settle(t, s, keyMsg("j"))
	}
	t.Fatalf("no mail %s in the queue", id)
	return s
}

func TestMailQueueRetry(t *testing.T) {
	f := newSettingsFake()
	s := openTestQueue(t, f, LangEN)
	if v := stripView(s.View()); !strings.Contains(v, "550 5.1.1 mailbox unava") || !strings.Contains(v, "1 failed") {
		t.Fatalf("the queue shows:\n%s", v)
	}
	s = selectMail(t, s, "m-7a1")
	s, out := pressKeys(t, s, "r")
	if !slices.Equal(f.mailOps, []string{"retry m-7a1"}) {
		t.Fatalf("calls %v", f.mailOps)
	}
	if len(out) != 1 || out[0] != (ToastMsg{Text: "Mail m-7a1 queued again (pending)"}) {
		t.Fatalf("sent %v", out)
	}
	if row, _ := s.(*Settings).queue.table.Selected(); row.ID != "m-7a1" || row.Tone != "" {
		t.Fatalf("the retried mail's row is %+v after the reload", row)
	}
	// A sent mail is not asked for again: the toast says why.
	s = selectMail(t, s, "m-7a4")
	_, out = pressKeys(t, s, "r")
	if len(f.mailOps) != 1 || len(out) != 1 || !out[0].(ToastMsg).Err || !strings.Contains(out[0].(ToastMsg).Text, "sent already") {
		t.Fatalf("calls %v, sent %v", f.mailOps, out)
	}
	// A tick reloads the queue while it is shown.
	f.mu.Lock()
	f.outbox = append(f.outbox, adminapi.OutboxMail{ID: "m-7a5", State: "pending", To: []string{"new@example.org"}})
	f.mu.Unlock()
	s, _ = settle(t, s, TickMsg{Time: testNow})
	if v := stripView(s.View()); !strings.Contains(v, "new@example.org") {
		t.Fatalf("the tick did not reload the queue:\n%s", v)
	}
}

func TestMailQueueDiscardConfirm(t *testing.T) {
	f := newSettingsFake()
	s := selectMail(t, openTestQueue(t, f, LangEN), "m-7a2")
	// n, and enter on the focused "no", discard nothing.
	for _, no := range []string{"n", "enter"} {
		s, _ = pressKeys(t, s, "d")
		if v := stripView(s.View()); !s.Typing() || !strings.Contains(v, `Discard the mail "Your send was downloaded" to`) {
			t.Fatalf("no confirmation:\n%s", stripView(s.View()))
		}
		s, _ = pressKeys(t, s, no)
		if s.Typing() || len(f.mailOps) != 0 {
			t.Fatalf("after %s: typing %v, calls %v", no, s.Typing(), f.mailOps)
		}
	}
	s, out := pressKeys(t, s, "d", "y")
	if !slices.Equal(f.mailOps, []string{"discard m-7a2"}) {
		t.Fatalf("calls %v", f.mailOps)
	}
	if len(out) != 1 || out[0] != (ToastMsg{Text: "Mail m-7a2 discarded"}) {
		t.Fatalf("sent %v", out)
	}
	if v := stripView(s.View()); strings.Contains(v, "paul@example.com") || !strings.Contains(v, "3 mails") {
		t.Fatalf("the discarded mail is still shown:\n%s", v)
	}
}

func TestMailQueueDetailAndBack(t *testing.T) {
	f := newSettingsFake()
	s := selectMail(t, openTestQueue(t, f, LangFR), "m-7a1")
	s, _ = pressKeys(t, s, "enter")
	v := stripView(s.View())
	for _, want := range []string{"Courriel m-7a1", "échoué", "claire.martin@example.org", "Rapport annuel 2026",
		"550 5.1.1 mailbox unavailable", "https://valise.example.org/s/AbC123"} {
		if !strings.Contains(v, want) {
			t.Errorf("the detail lacks %q:\n%s", want, v)
		}
	}
	s, _ = settle(t, s, LangMsg{Lang: LangEN})
	if v := stripView(s.View()); !strings.Contains(v, "Mail m-7a1") || !strings.Contains(v, "failed") {
		t.Fatalf("English detail:\n%s", v)
	}
	// esc goes back to the list, then to the settings.
	s, _ = pressKeys(t, s, "esc")
	if v := stripView(s.View()); !strings.Contains(v, "Mail queue") {
		t.Fatalf("esc left the detail for:\n%s", v)
	}
	s, _ = pressKeys(t, s, "esc")
	if s.(*Settings).queue != nil || !strings.Contains(stripView(s.View()), "site.name") {
		t.Fatalf("esc did not go back to the settings:\n%s", stripView(s.View()))
	}
}
