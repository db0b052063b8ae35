package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"

	"valise/transfer"
)

// callFrom makes a request to the world from the loopback address src (127.0.0.x), with
// no cookie jar, and returns its status and body.
func (w *world) callFrom(src, method, path string, v any) (int, []byte) {
	w.t.Helper()
	tr := w.client.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	body, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, w.base+path, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s from %s: %v", method, path, src, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestLinkChallengeLockPerAddressHTTP guards issue 16 item 4 through the API: the handlers
// give the link's challenges the client's address, so a guesser from 127.0.0.2 that locks a
// link's password or e-mail code does not lock out the recipient from 127.0.0.3 once the
// floor has passed (set to a nanosecond here, so no clock is needed); the guesser's right
// and wrong answers then get the same status and body.
func TestLinkChallengeLockPerAddressHTTP(t *testing.T) {
	const guesser, recipient = "127.0.0.2", "127.0.0.3"
	cases := []struct {
		name, route, field string
		opts               sendOptionsJSON
	}{
		{"password", "password", "password", sendOptionsJSON{Password: "open sesame"}},
		{"email code", "code/verify", "code", sendOptionsJSON{EmailCode: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, func(c *transfer.Config) { c.Challenge.LockFloor = time.Nanosecond })
			a, bearer := w.user("kim@example.org", "Kim")
			f := w.upload(a.ID, "x.txt", []byte("x"))
			mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
				To: []string{"lou@example.org"}, Files: []string{string(f.ID)}, Options: tc.opts,
			}), 201)
			tok := linkToken(t, w.outbox(1)[0])
			right := "open sesame"
			if tc.opts.EmailCode {
				mustStatus(t, w.api("POST", "/api/v1/links/"+tok+"/code", "", nil), 202)
				right = regexp.MustCompile(`\b[0-9]{8}\b`).FindString(w.outbox(2)[1].Text)
			}
			path := "/api/v1/links/" + tok + "/" + tc.route
			answer := func(v string) map[string]string { return map[string]string{tc.field: v} }
			for range 5 { // the default limit, password and code alike
				if st, body := w.callFrom(guesser, "POST", path, answer("a wrong guess")); st != 403 && st != 429 {
					t.Fatalf("guess: %d %s", st, body)
				}
			}
			wrongSt, wrongBody := w.callFrom(guesser, "POST", path, answer("another guess"))
			rightSt, rightBody := w.callFrom(guesser, "POST", path, answer(right))
			if wrongSt != 429 || rightSt != wrongSt || !bytes.Equal(rightBody, wrongBody) {
				t.Fatalf("the locked guesser: wrong %d %s, right %d %s; want the same 429", wrongSt, wrongBody, rightSt, rightBody)
			}
			st, body := w.callFrom(recipient, "POST", path, answer(right))
			var g grantJSON
			if st != 200 || json.Unmarshal(body, &g) != nil || !g.Complete {
				t.Fatalf("the recipient from another address: %d %s, want a complete grant", st, body)
			}
		})
	}
}
