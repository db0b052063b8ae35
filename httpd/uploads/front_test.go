package uploads

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/fault"
	"valise/httpd/tus"
	"valise/httpd/tus/tustest"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
	"valise/userid"
)

// newAccounts returns a real account.Service on a one-node metadata store, with a cheap
// password hash.
func newAccounts(t *testing.T) *account.Service {
	t.Helper()
	return accountsOn(t, rafttest.NewStore(t))
}

// accountsOn returns a real account.Service on store, with a cheap password hash.
func accountsOn(t *testing.T, store *raftfsm.Store) *account.Service {
	t.Helper()
	cfg := account.DefaultConfig()
	cfg.Password.MemoryKiB = 256
	cfg.Password.Iterations = 1
	a, err := account.New(cfg, store, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// addToken adds a user and an access token of theirs: its record and its bearer.
func addToken(t *testing.T, a *account.Service, email string) (account.User, account.Token, string) {
	t.Helper()
	u, _, err := a.Add(t.Context(), account.NewUser{Email: email, Password: "correct horse battery staple", Language: account.LangFR})
	if err != nil {
		t.Fatal(err)
	}
	rec, tok, err := a.CreateToken(t.Context(), u.ID, "uploads")
	if err != nil {
		t.Fatal(err)
	}
	return u, rec, tok
}

// outage is a Tokens whose metadata is down: it embeds the real one and fails the check.
type outage struct{ Tokens }

func (outage) AuthenticateToken(context.Context, string) (account.User, account.Token, error) {
	return account.User{}, account.Token{}, errors.New("metadata unavailable")
}

// browserSession stands in for web.Handler.SessionPrincipal: a request with a cookie is
// "browser", and a change also needs X-CSRF-Token "good". It counts its lookups.
type browserSession struct{ lookups atomic.Int64 }

func (s *browserSession) principal(ctx *fasthttp.RequestCtx) (userid.ID, error) {
	s.lookups.Add(1)
	if len(ctx.Request.Header.Peek("Cookie")) == 0 {
		return "", tus.ErrUnauthorized
	}
	safe := ctx.IsGet() || ctx.IsHead() || ctx.IsOptions()
	if !safe && string(ctx.Request.Header.Peek("X-CSRF-Token")) != "good" {
		return "", tus.ErrUnauthorized
	}
	return "browser", nil
}

// newTus returns a tus server on a file backend whose principal is Principal over tokens and
// s.
func newTus(t *testing.T, tokens Tokens, s *browserSession) *tus.Server {
	t.Helper()
	backend, err := tustest.Open(tustest.Config{Dir: t.TempDir(), MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	ts, err := tus.New(tus.DefaultConfig(), backend, Principal(tokens, s.principal, logger), logger)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// request builds a request context as fasthttp gives it to a handler.
func request(method, path string, headers map[string]string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
	return ctx
}

// TestPrincipal: the uploads name their caller by bearer token, or by the browser's session
// when no Authorization header is sent; a malformed, unknown, revoked or disabled user's token
// is refused (401) without asking the session, and an outage is logged and keeps its kind
// (issue 17 item 4: moved from node; issue 18: an outage is not a refusal).
func TestPrincipal(t *testing.T) {
	a := newAccounts(t)
	alice, _, aliceTok := addToken(t, a, "alice@example.org")
	_, _, bobTok := addToken(t, a, "bob@example.org")
	if _, err := a.Disable(t.Context(), "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	_, rec, revoked := addToken(t, a, "carol@example.org")
	if err := a.RevokeToken(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tokens  Tokens
		auth    string     // Authorization header; "" sends none
		want    userid.ID  // the principal; "" refused
		kind    fault.Kind // the error's kind when refused
		session bool       // the session was asked
		logged  bool       // a warning was logged
	}{
		{"bearer", a, "Bearer " + aliceTok, alice.ID, 0, false, false},
		{"bearer scheme in lower case", a, "bearer " + aliceTok, alice.ID, 0, false, false},
		{"no header: the session", a, "", "browser", 0, true, false},
		{"basic scheme", a, "Basic " + aliceTok, "", fault.Unauthorized, false, false},
		{"no token", a, "Bearer ", "", fault.Unauthorized, false, false},
		{"no scheme", a, aliceTok, "", fault.Unauthorized, false, false},
		{"token too long", a, "Bearer " + strings.Repeat("x", maxBearer+1), "", fault.Unauthorized, false, false},
		{"unknown token", a, "Bearer vls_unknown", "", fault.Unauthorized, false, false},
		{"disabled user", a, "Bearer " + bobTok, "", fault.Unauthorized, false, false},
		{"revoked token", a, "Bearer " + revoked, "", fault.Unauthorized, false, false},
		{"metadata outage", outage{a}, "Bearer " + aliceTok, "", fault.Internal, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var s browserSession
			p := Principal(tc.tokens, s.principal, slog.New(slog.NewTextHandler(&logs, nil)))
			h := map[string]string{"Cookie": "valise_session=x"}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			got, err := p(request("HEAD", "/api/v1/uploads/x", h))
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Fatalf("principal = %q, %v; want %q", got, err, tc.want)
			}
			if err != nil && fault.KindOf(err) != tc.kind {
				t.Fatalf("refused with kind %v, want %v: %v", fault.KindOf(err), tc.kind, err)
			}
			if asked := s.lookups.Load() > 0; asked != tc.session {
				t.Fatalf("session asked: %v, want %v", asked, tc.session)
			}
			if logged := logs.Len() > 0; logged != tc.logged {
				t.Fatalf("logged %q, want a warning: %v", logs.String(), tc.logged)
			}
		})
	}
}

// TestCSRFGate: a browser's upload change without X-CSRF-Token is refused with 403 before
// any lookup (a cross-site request cannot add a header), with tus's Tus-Resumable header and
// the connection closed; with a wrong token the session refuses it and tus answers 401; reads,
// OPTIONS and bearer requests pass (issue 17 item 4: moved from node, unchanged).
func TestCSRFGate(t *testing.T) {
	a := newAccounts(t)
	_, _, aliceTok := addToken(t, a, "alice@example.org")
	var s browserSession
	ts := newTus(t, a, &s)
	var reached atomic.Int64
	h := CSRFGate(func(ctx *fasthttp.RequestCtx) { reached.Add(1); ts.Handle(ctx) })
	const cookie = "valise_session=x"
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string]string
		want    int
		lookups int64 // session lookups
	}{
		{"browser post without csrf", "POST", map[string]string{"Cookie": cookie}, 403, 0},
		{"browser patch without csrf", "PATCH", map[string]string{"Cookie": cookie}, 403, 0},
		{"browser delete without csrf", "DELETE", map[string]string{"Cookie": cookie}, 403, 0},
		{"browser post with a wrong csrf", "POST", map[string]string{"Cookie": cookie, "X-CSRF-Token": "bad"}, 401, 1},
		{"browser post with csrf", "POST", map[string]string{"Cookie": cookie, "X-CSRF-Token": "good"}, 201, 1},
		{"browser options", "OPTIONS", map[string]string{"Cookie": cookie}, 204, 1},
		{"bearer with a cookie, no csrf", "POST", map[string]string{"Cookie": cookie, "Authorization": "Bearer " + aliceTok}, 201, 0},
		{"no credentials", "POST", nil, 401, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.lookups.Store(0)
			reached.Store(0)
			hd := map[string]string{"Tus-Resumable": tus.Version, "Upload-Length": "10"}
			for k, v := range tc.headers {
				hd[k] = v
			}
			ctx := request(tc.method, "/api/v1/uploads", hd)
			h(ctx)
			if got := ctx.Response.StatusCode(); got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, ctx.Response.Body())
			}
			if got := string(ctx.Response.Header.Peek("Tus-Resumable")); got != tus.Version {
				t.Fatalf("Tus-Resumable %q, want %s", got, tus.Version)
			}
			if got := s.lookups.Load(); got != tc.lookups {
				t.Fatalf("%d session lookups, want %d", got, tc.lookups)
			}
			if tc.want == fasthttp.StatusForbidden {
				if reached.Load() != 0 || !ctx.Response.ConnectionClose() {
					t.Fatalf("refused with tus reached %d times, connection close %v: want 0, true", reached.Load(), ctx.Response.ConnectionClose())
				}
			}
		})
	}
}

// TestPrincipalNoLeader: an upload with a valid bearer token that reaches a node whose
// metadata has no leader (a follower cut off, or the leader and the other follower killed) is
// answered 503 with Retry-After and the code "unavailable", never 401: a 401 tells a tus
// client that its token is bad and to give up (issue 18: every upload failed with 401 for a
// moment after kill -9 of the leader). The same request is accepted before the fault.
func TestPrincipalNoLeader(t *testing.T) {
	for _, tc := range rafttest.LeaderlessFaults() {
		t.Run(tc.Name, func(t *testing.T) {
			c := rafttest.NewCluster(t, 3, rafttest.WithForwarding())
			leader := c.Leader(t)
			f := c.Followers(t)
			reader, other := f[0], f[1]
			// The token is made through the follower (forwarded), which has then applied it.
			a := accountsOn(t, c.Store(reader))
			_, _, tok := addToken(t, a, "alice@example.org")
			ts := newTus(t, a, &browserSession{})
			post := func() *fasthttp.RequestCtx {
				ctx := request("POST", "/api/v1/uploads", map[string]string{
					"Tus-Resumable": tus.Version, "Upload-Length": "10", "Authorization": "Bearer " + tok,
				})
				CSRFGate(ts.Handle)(ctx)
				return ctx
			}
			if ctx := post(); ctx.Response.StatusCode() != fasthttp.StatusCreated {
				t.Fatalf("before the fault: status %d, want 201: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			tc.Apply(c, leader, reader, other)
			// At once (the dead or cut-off leader still named) and on.
			for range 3 {
				ctx := post()
				if got := ctx.Response.StatusCode(); got != fasthttp.StatusServiceUnavailable {
					t.Fatalf("status %d, want 503: %s", got, ctx.Response.Body())
				}
				if len(ctx.Response.Header.Peek("Retry-After")) == 0 {
					t.Fatal("503 without Retry-After")
				}
				if !bytes.Contains(ctx.Response.Body(), []byte(`"code":"unavailable"`)) {
					t.Fatalf("body %s, want the code unavailable", ctx.Response.Body())
				}
			}
		})
	}
}
