package account

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	u := e.addUser(t, "tok@example.org", goodPassword)
	tok, secret, err := e.svc.CreateToken(ctx, u.ID, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("token %q: want vls_ and 43 characters", secret)
	}
	got, gotTok, err := e.svc.AuthenticateToken(ctx, secret)
	if err != nil || got.ID != u.ID || gotTok.ID != tok.ID || gotTok.Name != "laptop" {
		t.Fatalf("AuthenticateToken = %+v, %+v, %v", got, gotTok, err)
	}
	tok2, _, err := e.svc.CreateToken(ctx, u.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.ListTokens(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].ID != tok.ID || list[1].ID != tok2.ID {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
	if b, _ := json.Marshal(list); bytes.Contains(b, []byte(secret[len(TokenPrefix):])) || bytes.Contains(b, []byte("hash")) {
		t.Fatalf("token list shows secrets: %s", b)
	}
	if other, _ := e.svc.ListTokens(ctx, "someone-else"); len(other) != 0 {
		t.Fatalf("another user's list holds %d tokens", len(other))
	}

	for _, tc := range []struct{ name, bearer string }{
		{"empty", ""},
		{"no prefix", secret[len(TokenPrefix):]},
		{"wrong prefix", "vlx_" + secret[len(TokenPrefix):]},
		{"truncated", secret[:len(secret)-1]},
		{"one character changed", secret[:len(secret)-2] + flip(secret[len(secret)-2]) + secret[len(secret)-1:]},
		{"not base64url", TokenPrefix + strings.Repeat("!", 43)},
		{"non-canonical base64", TokenPrefix + secret[len(TokenPrefix):len(secret)-1] + nonCanonical(secret[len(secret)-1])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := e.svc.AuthenticateToken(ctx, tc.bearer); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("AuthenticateToken(%q): %v, want ErrInvalidToken", tc.bearer, err)
			}
		})
	}

	if _, err := e.svc.Disable(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.AuthenticateToken(ctx, secret); !errors.Is(err, ErrDisabled) {
		t.Fatalf("token of a disabled user: %v, want ErrDisabled", err)
	}
	if _, _, err := e.svc.CreateToken(ctx, u.ID, "more"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("CreateToken for a disabled user: %v, want ErrDisabled", err)
	}
	if _, err := e.svc.Enable(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.AuthenticateToken(ctx, secret); err != nil {
		t.Fatalf("token after Enable: %v", err)
	}

	if err := e.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.AuthenticateToken(ctx, secret); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked token: %v, want ErrInvalidToken", err)
	}
	if err := e.svc.RevokeToken(ctx, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.TokenByID(ctx, tok2.ID); err != nil {
		t.Fatalf("the other token went too: %v", err)
	}
	if _, _, err := e.svc.CreateToken(ctx, u.ID, "bad\x00name"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("control character in token name: %v", err)
	}
	if _, _, err := e.svc.CreateToken(ctx, "no-such-user", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for an unknown user: %v", err)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// nonCanonical returns a last base64 character that decodes to the same bytes as c with
// different unused bits (43 characters carry 258 bits for 256).
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

// TestSecretsNeverStored creates a password, a session and a token, then reads every stored
// record and the whole journal: none of the secrets appears in any form a thief could use.
func TestSecretsNeverStored(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	u, password, err := e.svc.Add(ctx, NewUser{Email: "s@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := e.svc.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := e.svc.CreateToken(ctx, u.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{password, session, token, token[len(TokenPrefix):]}
	check := func(where string, b []byte) {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds a secret", where)
			}
		}
	}
	n := 0
	err = e.store.Scan(nil, func(it raftfsm.Item) error {
		n++
		check(string(it.Key), it.Key)
		check(string(it.Key), it.Value)
		return nil
	})
	if err != nil || n < 5 {
		t.Fatalf("scanned %d records: %v", n, err)
	}
	err = e.store.Journal(1, func(en raftfsm.Entry) error {
		check("journal entry "+en.Action, []byte(en.Actor+en.Target+string(en.Details)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDisableOnEveryNode checks issue 11's "a disabled user's tokens stop working at once, on
// every node": a token and a session accepted on a follower are refused there as soon as the
// leader has disabled their user, with no wait.
func TestDisableOnEveryNode(t *testing.T) {
	// Slower elections than the harness's 50 ms: NewCluster bootstraps the nodes one after
	// the other, and a leader elected in between already replicates its configuration to the
	// last node, whose bootstrap then fails ("bootstrap only works on new clusters", seen
	// 1 run in 8 under -race on 2026-11-23). Remove once rafttest tolerates it.
	c := rafttest.NewCluster(t, 3, rafttest.WithConfig(func(cfg *raftfsm.Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 400*time.Millisecond, 400*time.Millisecond
	}))
	l := c.Leader(t)
	f := c.Followers(t)[0]
	clk := newClock()
	leader, err := New(testConfig(clk), c.Store(l), nil)
	if err != nil {
		t.Fatal(err)
	}
	follower, err := New(testConfig(clk), c.Store(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	warmUp(t, c, l, l)
	warmUp(t, c, l, f)
	ctx := ctxT(t)
	u, _, err := leader.Add(ctx, NewUser{Email: "x@example.org", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := leader.CreateToken(ctx, u.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := leader.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Right after the leader's commit, the follower knows the token: linearizable.
	if _, _, err := follower.AuthenticateToken(ctx, token); err != nil {
		t.Fatalf("token on the follower: %v", err)
	}
	if _, _, err := follower.Session(ctx, session); err != nil {
		t.Fatalf("session on the follower: %v", err)
	}
	if _, err := follower.CheckPassword(ctx, "x@example.org", goodPassword); err != nil {
		t.Fatalf("password on the follower: %v", err)
	}
	if _, err := leader.Disable(ctx, "x@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := follower.AuthenticateToken(ctx, token); !errors.Is(err, ErrDisabled) {
		t.Fatalf("token on the follower after Disable: %v, want ErrDisabled", err)
	}
	if _, _, err := follower.Session(ctx, session); !errors.Is(err, ErrDisabled) {
		t.Fatalf("session on the follower after Disable: %v, want ErrDisabled", err)
	}
	if _, err := follower.CheckPassword(ctx, "x@example.org", goodPassword); !errors.Is(err, ErrDisabled) {
		t.Fatalf("password on the follower after Disable: %v, want ErrDisabled", err)
	}
	// A wrong password on a follower cannot be recorded there: the caller is told.
	_, err = follower.CheckPassword(ctx, "x@example.org", "wrong wrong wrong")
	if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, raftfsm.ErrNotLeader) {
		t.Fatalf("wrong password on a follower: %v, want ErrBadCredentials and ErrNotLeader", err)
	}
}
