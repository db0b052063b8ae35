package web

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/status"
	"valise/raftfsm"
)

// leaderless is the web UI's Accounts whose session checks fail, once down is set, as on a
// node whose metadata has no leader (the linearizable read's error).
type leaderless struct {
	Accounts
	down *atomic.Bool
}

func (l leaderless) Session(ctx context.Context, token string) (account.Session, account.User, error) {
	if l.down.Load() {
		return account.Session{}, account.User{}, fmt.Errorf("session: linearizable read: %w", raftfsm.ErrNoLeader)
	}
	return l.Accounts.Session(ctx, token)
}

// TestSessionNoLeader: a live session checked while the metadata has no leader (an election
// after kill -9 of the leader, a partition) is neither dropped nor refused: a page answers 503
// with Retry-After and keeps the session cookie, and the tus uploads' SessionPrincipal fails
// with an Unavailable error (503), not a refusal (401) (issue 18).
func TestSessionNoLeader(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, func(_ *env, _ *Config, d *Deps) { d.Accounts = leaderless{Accounts: d.Accounts, down: &down} })
	e.addUser("alice@example.org", testPassword, account.LangFR)
	// The uploads' stand-in: it answers as tus answers SessionPrincipal's error.
	extra := func(ctx *fasthttp.RequestCtx) bool {
		if string(ctx.Path()) != "/api/v1/uploads" {
			return false
		}
		if _, err := e.h.SessionPrincipal(ctx); err != nil {
			st, _ := status.OfError(err)
			ctx.SetStatusCode(st)
		}
		return true
	}
	e.extra.Store(&extra)
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	if r := c.get("/send"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /send with a session: %d", r.StatusCode)
	}
	down.Store(true)
	r := c.get("/send")
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("GET /send without a leader: %d, Retry-After %q; want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie {
			t.Fatalf("the session cookie was changed (%q, max-age %d) for an outage", ck.Value, ck.MaxAge)
		}
	}
	if r := c.get("/api/v1/uploads"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("session principal without a leader: %d, want 503", r.StatusCode)
	}
	down.Store(false)
	if r := c.get("/send"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /send once a leader is back: %d", r.StatusCode)
	}
}
