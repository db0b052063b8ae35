package api

import (
	"bytes"
	"html"
	"testing"
	"time"

	"valise/locale"
	"valise/raftfsm"
	"valise/transfer"
)

// TestSuspendedLinkAfterRestore guards issue 19: after a restore with --suspend-links, a link
// older than the backup is refused everywhere a recipient reaches it (link API, download,
// zip, link page) with a message telling them to contact the sender, in their language;
// a link made after works; only the sender confirms, and then the link works again. Every
// request and answer is checked against the OpenAPI document.
func TestSuspendedLinkAfterRestore(t *testing.T) {
	w := newWorld(t)
	alice, bearer := w.user("alice@example.org", "Alice Martin")
	_, mallory := w.user("mallory@example.org", "Mallory")
	data := randomData(5000, 1)
	f := w.upload(alice.ID, "contrat.pdf", data)
	send := func() transfer.Send {
		var cs createdSendJSON
		r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"bob@example.org"}, Files: []string{string(f.ID)}})
		mustStatus(t, r, 201)
		r.json(t, &cs)
		return cs.Send
	}
	old := send()
	oldToken := linkToken(t, w.outbox(1)[0])

	// The restore writes the backup's time.
	if _, err := w.meta.Propose(w.ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(transfer.SuspendKey), Value: transfer.SuspendValue(time.Now())}},
		Audit: raftfsm.Audit{Time: time.Now(), Actor: "test", Action: "restore.suspend_links"},
	}); err != nil {
		t.Fatal(err)
	}
	fresh := send()
	var freshToken string
	for _, m := range w.outbox(2) {
		if tk := linkToken(t, m); tk != oldToken {
			freshToken = tk
		}
	}

	en := locale.For(locale.English).T("api.link_suspended")
	fr := locale.For(locale.French).T("api.link_suspended")
	if en != "This link is suspended: the service was restored from a backup and its sender must confirm it. Contact the sender." || fr == en {
		t.Fatalf("messages: %q, %q", en, fr)
	}
	dl := "/s/" + oldToken + "/files/" + string(f.ID)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		want               string // in the body
	}{
		{"link API in English", "GET", "/api/v1/links/" + oldToken, map[string]string{"Accept-Language": "en"}, en},
		{"link API in French", "GET", "/api/v1/links/" + oldToken, map[string]string{"Accept-Language": "fr"}, fr},
		{"password", "POST", "/api/v1/links/" + oldToken + "/password", map[string]string{"Content-Type": "application/json", "Accept-Language": "en"}, en},
		{"download", "GET", dl, map[string]string{"Accept-Language": "en"}, en},
		{"download by a browser", "GET", dl, map[string]string{"Accept": "text/html", "Accept-Language": "en"}, html.EscapeString(en)},
		{"zip", "GET", "/s/" + oldToken + "/zip", map[string]string{"Accept-Language": "en"}, en},
		{"link page", "GET", "/s/" + oldToken, map[string]string{"Accept": "text/html", "Accept-Language": "en"}, html.EscapeString(en)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == "POST" {
				body = []byte(`{"password":"whatever it is"}`)
			}
			r := w.call(tc.method, tc.path, tc.hdr, body, true)
			if r.StatusCode != 403 || !bytes.Contains(r.body, []byte(tc.want)) {
				t.Fatalf("%s %s: %d %s; want 403 with %q", tc.method, tc.path, r.StatusCode, r.body, tc.want)
			}
		})
	}

	// A send made after the restore is not affected.
	mustStatus(t, w.api("GET", "/api/v1/links/"+freshToken, "", nil), 200)

	// The sender sees which send waits for them.
	var got transfer.Send
	r := w.api("GET", "/api/v1/sends/"+string(old.ID), bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &got)
	if !got.Suspended {
		t.Fatalf("old send not shown suspended: %s", r.body)
	}
	var list sendsJSON
	r = w.api("GET", "/api/v1/sends", bearer, nil)
	mustStatus(t, r, 200)
	r.json(t, &list)
	for _, s := range list.Sends {
		if s.Suspended != (s.ID == old.ID) {
			t.Errorf("send %s listed with suspended %v", s.ID, s.Suspended)
		}
	}
	if fresh.Suspended {
		t.Errorf("fresh send suspended at creation")
	}

	// Only the owner confirms.
	mustStatus(t, w.api("POST", "/api/v1/sends/"+string(old.ID)+"/confirm", mallory, nil), 404)
	mustStatus(t, w.call("GET", "/api/v1/links/"+oldToken, nil, nil, true), 403)
	for range 2 { // idempotent
		r = w.api("POST", "/api/v1/sends/"+string(old.ID)+"/confirm", bearer, nil)
		mustStatus(t, r, 200)
		got = transfer.Send{}
		r.json(t, &got)
		if got.Suspended || got.ConfirmedAt.IsZero() {
			t.Fatalf("confirmed send: %s", r.body)
		}
	}
	mustStatus(t, w.api("GET", "/api/v1/links/"+oldToken, "", nil), 200)
	r = w.call("GET", dl, nil, nil, true)
	mustStatus(t, r, 200)
	if !bytes.Equal(r.body, data) {
		t.Fatal("download after confirmation: wrong bytes")
	}
}
