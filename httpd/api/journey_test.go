package api

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"valise/httpd/csp"
	"valise/httpd/linkgrant"
	"valise/notify"
	"valise/transfer"
	"valise/transfer/filetest"
)

// TestJourney walks the send issue's API journey (issue 11) against the real services, with
// every request and response validated against the OpenAPI document: token auth, a file, a
// send to two recipients with a password, the two mails, link metadata, the password
// challenge, a Range download resumed from the middle, the zip, the receipt, revoke, 404.
func TestJourney(t *testing.T) {
	w := newWorld(t)
	alice, bearer := w.user("alice@example.org", "Alice Martin")

	// Token auth: who am I, my tokens, a new token shown once, revoked.
	var me meJSON
	r := w.api("GET", "/api/v1/me", bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &me)
	if me.ID != string(alice.ID) || me.Email != "alice@example.org" || me.Language != "fr" {
		t.Fatalf("me = %+v", me)
	}
	var created createdTokenJSON
	r = w.api("POST", "/api/v1/me/tokens", bearer, newTokenBody{Name: "script"})
	mustStatus(t, r, 201)
	r.json(t, &created)
	if !strings.HasPrefix(created.Secret, "vls_") {
		t.Fatalf("secret %q", created.Secret)
	}
	mustStatus(t, w.api("GET", "/api/v1/me", created.Secret, nil), 200)
	var toks tokensJSON
	r = w.api("GET", "/api/v1/me/tokens", bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &toks)
	if len(toks.Tokens) != 2 || strings.Contains(string(r.body), "vls_") {
		t.Fatalf("tokens = %s", r.body)
	}
	mustStatus(t, w.api("DELETE", "/api/v1/me/tokens/"+created.Token.ID, bearer, nil), 204)
	mustStatus(t, w.api("GET", "/api/v1/me", created.Secret, nil), 401)

	// A file, as a finished tus upload leaves it.
	data := randomData(300_000, 1)
	sum := sha256.Sum256(data)
	f := w.upload(alice.ID, "rapport annuel.pdf", data)
	var fj fileJSON
	r = w.api("GET", "/api/v1/files/"+string(f.ID), bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &fj)
	if fj.SHA256 != hex.EncodeToString(sum[:]) || fj.Verdict != "clean" || fj.Size != int64(len(data)) {
		t.Fatalf("file = %+v", fj)
	}
	if strings.Contains(string(r.body), "manifest") {
		t.Fatalf("file answer leaks the manifest: %s", r.body)
	}

	// The send, to two recipients, with a password and receipts.
	var cs createdSendJSON
	r = w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"bob@example.org"}, Cc: []string{"carol@example.org"},
		Subject: "Rapport", Message: "Voici le rapport.", Files: []string{string(f.ID)},
		Options: sendOptionsJSON{Password: "correct horse battery", Receipts: true},
	})
	mustStatus(t, r, 201)
	r.json(t, &cs)
	if len(cs.Send.Recipients) != 2 || !cs.Send.Options.PasswordRequired {
		t.Fatalf("send = %s", r.body)
	}
	for _, rc := range cs.Send.Recipients {
		if rc.NotifyCount != 1 || rc.NotifiedFirst.IsZero() {
			t.Errorf("recipient %s not recorded as notified: %+v", rc.Address, rc)
		}
	}

	// Two mails, one per recipient, each with its own link.
	mails := w.outbox(2)
	tokens := map[string]string{}
	for _, m := range mails {
		if m.Kind != notify.KindSend || len(m.To) != 1 {
			t.Fatalf("mail %+v", m)
		}
		tokens[m.To[0]] = linkToken(t, m)
		if !strings.Contains(m.Text, f.SHA256) || m.FromName != "Alice Martin via Valise" {
			t.Errorf("mail lacks the SHA-256 or sender: %q %q", m.FromName, m.Text)
		}
	}
	bob := tokens["bob@example.org"]
	if bob == "" || tokens["carol@example.org"] == "" || bob == tokens["carol@example.org"] {
		t.Fatalf("links %v", tokens)
	}

	// The link's metadata, public: locked until the password is given.
	var view transfer.LinkView
	r = w.api("GET", "/api/v1/links/"+bob, "", nil)
	mustStatus(t, r, 200)
	r.json(t, &view)
	if !view.PasswordRequired || !view.Locked || len(view.Files) != 0 || view.Recipient != "" || view.From.Name != "Alice Martin" {
		t.Fatalf("view = %s", r.body)
	}
	dl := "/s/" + bob + "/files/" + string(f.ID)

	// No grant: the download is refused.
	mustStatus(t, w.call("GET", dl, nil, nil, true), 403)
	// Wrong password refused, in English when asked.
	r = w.call("POST", "/api/v1/links/"+bob+"/password", map[string]string{"Content-Type": "application/json", "Accept-Language": "en-GB,en;q=0.9"},
		[]byte(`{"password":"wrong guess"}`), true)
	mustStatus(t, r, 403)
	var ae apiError
	r.json(t, &ae)
	if ae.Code != "wrong_password" || ae.Message != "Wrong password." {
		t.Fatalf("wrong password answer %+v", ae)
	}
	// The right one gives a grant, in a cookie and the JSON.
	var g grantJSON
	r = w.api("POST", "/api/v1/links/"+bob+"/password", "", passwordBody{Password: "correct horse battery"})
	mustStatus(t, r, 200)
	r.json(t, &g)
	if !g.Complete || g.Grant == "" || r.Header.Get(linkgrant.Header) != g.Grant {
		t.Fatalf("grant %s", r.body)
	}
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{"valise_grant=" + g.Grant, "path=/s/" + bob, "httponly", "secure", "samesite=strict"} {
		if !strings.Contains(strings.ToLower(cookie), strings.ToLower(want)) {
			t.Errorf("cookie %q lacks %q", cookie, want)
		}
	}
	gh := map[string]string{linkgrant.Header: g.Grant}
	r = w.call("GET", "/api/v1/links/"+bob, gh, nil, true)
	mustStatus(t, r, 200)
	r.json(t, &view)
	if view.Locked || len(view.Files) != 1 || view.Files[0].SHA256 != f.SHA256 || view.Recipient != "bob@example.org" {
		t.Fatalf("view with the grant = %s", r.body)
	}

	// Range download: the first half, then the rest from the middle, as curl -C - does.
	half := len(data) / 2
	r = w.call("GET", dl, withHdr(gh, "Range", fmt.Sprintf("bytes=0-%d", half-1)), nil, true)
	mustStatus(t, r, 206)
	first := r.body
	checkDownloadHeaders(t, r, f.SHA256)
	if got := r.Header.Get("Content-Range"); got != fmt.Sprintf("bytes 0-%d/%d", half-1, len(data)) {
		t.Errorf("Content-Range %q", got)
	}
	r = w.call("GET", dl, withHdr(gh, "Range", fmt.Sprintf("bytes=%d-", half), "If-Range", `"`+f.SHA256+`"`), nil, true)
	mustStatus(t, r, 206)
	whole := append(slices.Clone(first), r.body...)
	if !bytes.Equal(whole, data) {
		t.Fatalf("resumed download differs (%d bytes)", len(whole))
	}
	if got := sha256.Sum256(whole); got != sum {
		t.Fatal("SHA-256 of the download differs")
	}

	// The receipt: the resumed download reached the end, so it counts once.
	mails = w.outbox(3)
	receipt := mails[2]
	if receipt.Kind != notify.KindReceipt || receipt.To[0] != "alice@example.org" || !strings.Contains(receipt.Text, "bob@example.org") {
		t.Fatalf("receipt %+v", receipt)
	}

	// The zip holds the file.
	r = w.call("GET", "/s/"+bob+"/zip", gh, nil, true)
	mustStatus(t, r, 200)
	zr, err := zip.NewReader(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != "rapport annuel.pdf" || zr.File[0].Method != zip.Store {
		t.Fatalf("zip entries %+v", zr.File)
	}
	rc, _ := zr.File[0].Open()
	zb, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(zb, data) {
		t.Fatal("zip entry differs")
	}
	w.outbox(4) // its receipt

	// The sender sees per-recipient status: Bob opened and downloaded.
	var s transfer.Send
	r = w.api("GET", "/api/v1/sends/"+string(cs.Send.ID), bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &s)
	for _, rc := range s.Recipients {
		if rc.Address == "bob@example.org" && (rc.OpenedFirst.IsZero() || rc.DownloadCount != 2 || len(rc.Downloads) != 3) {
			t.Errorf("bob's tracking %+v", rc)
		}
	}
	var list sendsJSON
	r = w.api("GET", "/api/v1/sends", bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &list)
	if len(list.Sends) != 1 {
		t.Fatalf("sends %s", r.body)
	}

	// Resend to Carol: a new link, the old one dead.
	carolOld := tokens["carol@example.org"]
	mustStatus(t, w.api("POST", "/api/v1/sends/"+string(cs.Send.ID)+"/resend", bearer, recipientBody{Recipient: "carol@example.org"}), 200)
	mails = w.outbox(5)
	carolNew := linkToken(t, mails[4])
	mustStatus(t, w.api("GET", "/api/v1/links/"+carolOld, "", nil), 404)
	mustStatus(t, w.api("GET", "/api/v1/links/"+carolNew, "", nil), 200)

	// Revoke: the link answers exactly what an unknown link answers.
	unknown := strings.Repeat("A", 43)
	before := w.api("GET", "/api/v1/links/"+unknown, "", nil)
	beforePage := w.call("GET", "/s/"+unknown, nil, nil, true)
	mustStatus(t, w.api("POST", "/api/v1/sends/"+string(cs.Send.ID)+"/revoke", bearer, nil), 200)
	after := w.api("GET", "/api/v1/links/"+bob, "", nil)
	afterPage := w.call("GET", "/s/"+bob, nil, nil, true)
	mustStatus(t, after, 404)
	mustStatus(t, afterPage, 404)
	if !bytes.Equal(before.body, after.body) || !bytes.Equal(beforePage.body, afterPage.body) {
		t.Fatalf("revoked link answers differently from an unknown one:\n%s\n%s", before.body, after.body)
	}
	mustStatus(t, w.call("GET", dl, gh, nil, true), 404)
}

// mustStatus fails unless r has the status.
func mustStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
}

// withHdr returns base plus the pairs kv.
func withHdr(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// checkDownloadHeaders checks what every download carries.
func checkDownloadHeaders(t *testing.T, r reply, sha string) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"Strict-Transport-Security": "max-age=31536000",
		"Accept-Ranges":             "bytes",
		"ETag":                      `"` + sha + `"`,
		"Content-Security-Policy":   csp.Policy(csp.Download),
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition %q", cd)
	}
}

// TestCreateSendPendingScan guards issue 16 item 3 through the API: POST /api/v1/sends used
// to fail while a file's scan still ran. It is accepted at once with the state
// "pending_scan" and no mail; the state says "active" once every file is clean and the send
// is settled.
func TestCreateSendPendingScan(t *testing.T) {
	w := newWorld(t)
	alice, bearer := w.user("alice@example.org", "Alice")
	f := filetest.StoreVerdict(w.ctx, t, w.transfer, w.bs, alice.ID, "", "contrat.pdf", randomData(5000, 3), transfer.VerdictPending)
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"bob@example.org"}, Files: []string{string(f.ID)}})
	mustStatus(t, r, 201)
	var created struct {
		Send struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"send"`
	}
	r.json(t, &created)
	if created.Send.State != "pending_scan" {
		t.Fatalf("state %q, want pending_scan: %s", created.Send.State, r.body)
	}
	if out, _ := w.mail.Outbox(w.ctx); len(out) != 0 {
		t.Fatalf("%d mails left before the verdict", len(out))
	}
	if err := w.transfer.SetVerdict(w.ctx, f.ID, transfer.VerdictClean, ""); err != nil {
		t.Fatal(err)
	}
	if settled, err := w.transfer.SettleWaitingSends(w.ctx); err != nil || len(settled) != 1 || len(settled[0].Invitations) != 1 {
		t.Fatalf("settle: %+v, %v", settled, err)
	}
	r = w.api("GET", "/api/v1/sends/"+created.Send.ID, bearer, nil)
	mustStatus(t, r, 200)
	var got struct {
		State string `json:"state"`
	}
	r.json(t, &got)
	if got.State != "active" {
		t.Fatalf("state after the verdict %q, want active", got.State)
	}
}

// TestResendFloodAnswers429 guards issue 16 item 9: a concurrent burst of resends of one send
// mails at most the per-send budget (5 by default); the rest answer 429 too_many_resends.
func TestResendFloodAnswers429(t *testing.T) {
	w := newWorld(t)
	alice, bearer := w.user("alice@example.org", "Alice")
	f := w.upload(alice.ID, "a.pdf", randomData(3000, 5))
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"bob@example.org"}, Files: []string{string(f.ID)}})
	mustStatus(t, r, 201)
	var created createdSendJSON
	r.json(t, &created)
	const burst = 12
	codes := make(chan int, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- w.api("POST", "/api/v1/sends/"+string(created.Send.ID)+"/resend", bearer, recipientBody{Recipient: "bob@example.org"}).StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[200] != 5 || count[429] != burst-5 {
		t.Fatalf("answers %v, want 5 × 200 and %d × 429", count, burst-5)
	}
}
