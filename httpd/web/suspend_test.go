package web

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"valise/account"
	"valise/locale"
	"valise/raftfsm"
	"valise/transfer"
)

// TestSuspendedSendConfirm guards issue 19 from both sides: after a restore with
// --suspend-links, the recipient's page of a link older than the backup says it is suspended
// and to contact the sender, in French and English; the sender's list and page say so and
// offer the confirmation, which only the owner can give; confirmed, the link works again.
func TestSuspendedSendConfirm(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangEN)
	e.addUser("mallory@example.org", testPassword, account.LangEN)
	f := e.upload(alice.ID, "plan.pdf", []byte(strings.Repeat("valise ", 100)))
	created, err := e.sends.CreateSend(e.ctx, alice.ID, transfer.SendRequest{
		From: transfer.Sender{Name: "Alice", Email: "alice@example.org"}, To: []string{"bob@example.org"},
		Subject: "Plan", FileIDs: []transfer.FileID{f.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := string(created.Send.ID)
	link := "/s/" + created.Invitations[0].Token
	if _, err := e.meta.Propose(e.ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(transfer.SuspendKey), Value: transfer.SuspendValue(time.Now())}},
		Audit: raftfsm.Audit{Time: time.Now(), Actor: "test", Action: "restore.suspend_links"},
	}); err != nil {
		t.Fatal(err)
	}

	recipient := e.newClient()
	for _, lang := range []string{locale.French, locale.English} {
		recipient.lang = lang
		r := recipient.get(link)
		want := html.EscapeString(locale.For(lang).T("api.link_suspended"))
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, want) || strings.Contains(r.body, "plan.pdf") {
			t.Fatalf("link page in %s: status %d, want 403 saying %q: %s", lang, r.StatusCode, want, r.body)
		}
	}

	alicePage := e.newClient()
	alicePage.lang = locale.English
	alicePage.mustLogin("alice@example.org", testPassword)
	if r := alicePage.get("/sent"); !strings.Contains(r.body, "suspended after restore") {
		t.Fatalf("the sent list does not say the send is suspended: %s", r.body)
	}
	r := alicePage.get("/sent/" + id)
	if !strings.Contains(r.body, `id="confirm"`) || !strings.Contains(r.body, "Suspended after restore — confirm") {
		t.Fatalf("the send's page offers no confirmation: %s", r.body)
	}

	// Another user cannot confirm it.
	mallory := e.newClient()
	mallory.mustLogin("mallory@example.org", testPassword)
	if r := mallory.post("/sent/"+id+"/confirm", url.Values{"csrf": {mallory.csrf("/sent")}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("confirm by another user: status %d", r.StatusCode)
	}
	if r := recipient.get(link); r.StatusCode != http.StatusForbidden {
		t.Fatalf("link after another user's confirm: status %d", r.StatusCode)
	}

	// The owner confirms: the page says so and offers it no more; the link works.
	r = alicePage.post("/sent/"+id+"/confirm", url.Values{"csrf": {alicePage.csrf("/sent/" + id)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sent/"+id+"?done=confirmed" {
		t.Fatalf("confirm: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = alicePage.get(r.Header.Get("Location"))
	if !strings.Contains(r.body, "Send confirmed") || strings.Contains(r.body, `id="confirm"`) {
		t.Fatalf("the confirmed send's page: %s", r.body)
	}
	if r := recipient.get(link); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "plan.pdf") {
		t.Fatalf("link after confirmation: status %d", r.StatusCode)
	}
}
