package api

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"valise/scan/scantest"
	"valise/transfer"
	"valise/upload"
)

// readerChunk is a tus PATCH body for upload.Pipeline.Write: the bytes of r, no checksum.
type readerChunk struct{ r *bytes.Reader }

func (c readerChunk) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c readerChunk) Verify() error              { return nil }

// TestVerdictWithTestSignaturesSaysSo guards issue 16 item 7: with only the built-in test
// signatures loaded (an offline node's default), an ordinary file was shown "clean" ("sain")
// by the API, the recipient's page and the mail, although nothing real had been checked. The
// file goes through a real clamd with the test signatures only and the real upload pipeline: the API
// gives its verdict reason checked_test_signatures_only, and the mail and the page say "not
// checked against real signatures".
func TestVerdictWithTestSignaturesSaysSo(t *testing.T) {
	d := scantest.StartDaemon(t, 2)
	if !d.Status().TestSignaturesOnly {
		// scantest's clamd loads its own private database directory, which holds only the
		// built-in test signatures: anything else is a broken harness.
		t.Fatal("the test clamd has more than the built-in test signatures")
	}
	w := newWorld(t)
	a, bearer := w.user("jo@example.org", "Jo")
	up, err := upload.New(upload.DefaultConfig(), w.transfer, w.bs, d, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	data := randomData(50_000, 16)
	id, err := up.Create(w.ctx, a.ID, int64(len(data)), map[string]string{"filename": "contrat.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write(w.ctx, a.ID, id, 0, readerChunk{bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute) // a hang guard only
	defer cancel()
	if v, err := up.WaitVerdict(ctx, a.ID, id); err != nil || v != transfer.VerdictClean {
		t.Fatalf("verdict %s, %v; want clean", v, err)
	}

	// The API.
	var fj fileJSON
	r := w.api("GET", "/api/v1/files/"+string(id), bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &fj)
	if fj.Verdict != "clean" || fj.VerdictReason != transfer.ReasonTestSignaturesOnly {
		t.Fatalf("API file: verdict %q reason %q, want clean, %s", fj.Verdict, fj.VerdictReason, transfer.ReasonTestSignaturesOnly)
	}
	r = w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"kim@example.org"}, Files: []string{string(id)}})
	mustStatus(t, r, 201)
	if !strings.Contains(string(r.body), `"verdict_reason":"`+transfer.ReasonTestSignaturesOnly+`"`) {
		t.Errorf("the created send's file does not say test signatures only: %s", r.body)
	}

	// The mail (in the sender's language, French).
	m := w.outbox(1)[0]
	for part, body := range map[string]string{"text": m.Text, "HTML": m.HTML} {
		if !strings.Contains(body, "non vérifié avec de vraies signatures antivirus") {
			t.Errorf("the mail's %s part does not say the file was not checked against real signatures:\n%s", part, body)
		}
	}

	// The recipient's page and link API.
	tok := linkToken(t, m)
	for _, tc := range []struct{ acceptLanguage, want, notWant string }{
		{"", "non vérifié avec de vraies signatures", ">sain<"},
		{"en-GB,en;q=0.9", "not checked against real signatures", ">clean<"},
	} {
		var hdr map[string]string
		if tc.acceptLanguage != "" {
			hdr = map[string]string{"Accept-Language": tc.acceptLanguage}
		}
		r := w.call("GET", "/s/"+tok, hdr, nil, true)
		mustStatus(t, r, 200)
		body := string(r.body)
		if !strings.Contains(body, tc.want) || strings.Contains(body, tc.notWant) {
			t.Errorf("page (%q) lacks %q or says %q:\n%s", tc.acceptLanguage, tc.want, tc.notWant, body)
		}
	}
	r = w.api("GET", "/api/v1/links/"+tok, "", nil)
	mustStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"verdict_reason":"`+transfer.ReasonTestSignaturesOnly+`"`) {
		t.Errorf("the link API does not say test signatures only: %s", r.body)
	}

	// Held when the policy says so, with a message that says why.
	p := transfer.DefaultPolicy()
	p.HoldTestSignaturesOnly = true
	if err := w.transfer.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	r = w.call("POST", "/api/v1/sends", map[string]string{"Authorization": "Bearer " + bearer, "Content-Type": "application/json", "Accept-Language": "en"},
		[]byte(`{"to":["kim@example.org"],"files":["`+string(id)+`"]}`), true)
	mustStatus(t, r, 400)
	if !strings.Contains(string(r.body), `"code":"file_not_sendable"`) || !strings.Contains(string(r.body), "not checked against real antivirus signatures") {
		t.Errorf("refusal under scan.test_signatures_only=hold: %s", r.body)
	}
}
