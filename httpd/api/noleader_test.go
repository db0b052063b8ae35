package api

import (
	"net/http"
	"testing"

	"valise/httpd/tus"
	"valise/raftfsm/rafttest"
)

// TestNoLeaderUnavailable: a valid token that reaches a node whose metadata has no leader (a
// follower cut off from the others) is answered 503 with Retry-After and the code
// "unavailable" by the REST API and by the tus uploads mounted beside it, never 401: a 401
// tells a client that its token is bad and to give up (issue 18: every upload failed with 401
// for a moment after kill -9 of the leader). The same requests succeed before the cut.
func TestNoLeaderUnavailable(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithForwarding())
	follower := c.Followers(t)[0]
	w := newWorldOn(t, c.Store(follower))
	_, bearer := w.user("alice@example.org", "Alice")
	auth := map[string]string{"Authorization": "Bearer " + bearer}
	tusHdr := map[string]string{"Authorization": "Bearer " + bearer, "Tus-Resumable": tus.Version, "Upload-Length": "10"}
	cases := []struct {
		name         string
		method, path string
		hdr          map[string]string
		ok           int // the status before the cut
	}{
		{"api", "GET", "/api/v1/me", auth, http.StatusOK},
		{"tus", "POST", "/api/v1/uploads", tusHdr, http.StatusCreated},
	}
	for _, tc := range cases {
		if r := w.call(tc.method, tc.path, tc.hdr, nil, false); r.StatusCode != tc.ok {
			t.Fatalf("%s before the cut: %d, want %d: %s", tc.name, r.StatusCode, tc.ok, r.body)
		}
	}
	c.Partition(follower)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := w.call(tc.method, tc.path, tc.hdr, nil, false)
			if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%d, Retry-After %q: %s; want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"), r.body)
			}
			var e struct{ Code string }
			r.json(t, &e)
			if e.Code != "unavailable" {
				t.Fatalf("code %q, want unavailable", e.Code)
			}
		})
	}
}
