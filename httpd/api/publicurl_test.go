package api

import (
	"regexp"
	"testing"
)

// TestSetPublicURL: a public_url change reaches the links of the mails queued after it
// without a new Handler, and a URL Config.PublicURL would refuse is refused, the one before
// kept (issue 17 item 4: the node used to build a Handler per change and keep them all).
func TestSetPublicURL(t *testing.T) {
	w := newWorld(t)
	alice, bearer := w.user("alice@example.org", "Alice")
	f := w.upload(alice.ID, "a.txt", []byte("hello"))
	mails := 0
	for _, tc := range []struct {
		name, set, want string
		ok              bool
	}{
		{"first change", "https://files.example.org", "https://files.example.org", true},
		{"port", "https://files.example.org:8443", "https://files.example.org:8443", true},
		{"trailing slash refused", "https://other.example.org/", "https://files.example.org:8443", false},
		{"http refused", "http://other.example.org", "https://files.example.org:8443", false},
		{"back", "https://valise.example.org", "https://valise.example.org", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := w.h.SetPublicURL(tc.set); (err == nil) != tc.ok {
				t.Fatalf("SetPublicURL(%q) = %v, want ok %v", tc.set, err, tc.ok)
			}
			if got := w.h.PublicURL(); got != tc.want {
				t.Fatalf("PublicURL() = %q, want %q", got, tc.want)
			}
			mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
				To: []string{"bob@example.org"}, Subject: "s", Files: []string{string(f.ID)},
			}), 201)
			mails++
			m := w.outbox(mails)[mails-1]
			if !regexp.MustCompile(`\s` + regexp.QuoteMeta(tc.want) + `/s/[A-Za-z0-9_-]{43}\s`).MatchString(m.Text) {
				t.Fatalf("the mail's link does not start with %s:\n%s", tc.want, m.Text)
			}
		})
	}
}
