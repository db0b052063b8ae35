package account

import (
	"errors"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	u := e.addUser(t, "web@example.org", goodPassword)
	token, sess, err := e.svc.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || sess.UserID != u.ID {
		t.Fatalf("CreateSession = %q, %+v", token, sess)
	}
	got, gu, err := e.svc.Session(ctx, token)
	if err != nil || got.ID != sess.ID || gu.ID != u.ID {
		t.Fatalf("Session = %+v, %+v, %v", got, gu, err)
	}

	// Activity keeps it alive past the idle limit…
	for range 3 {
		e.clk.Advance(29 * time.Minute)
		if _, _, err := e.svc.Session(ctx, token); err != nil {
			t.Fatalf("active session refused: %v", err)
		}
	}
	// …but not past the idle limit without activity.
	e.clk.Advance(30 * time.Minute)
	if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("idle session: %v, want ErrSessionExpired", err)
	}
	if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired session not deleted: %v", err)
	}

	// The absolute limit holds whatever the activity.
	token, _, err = e.svc.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for elapsed := time.Duration(0); elapsed < 12*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
		e.clk.Advance(20 * time.Minute)
		if _, _, err := e.svc.Session(ctx, token); err != nil {
			t.Fatalf("session after %v: %v", elapsed+20*time.Minute, err)
		}
	}
	e.clk.Advance(20 * time.Minute)
	if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("session past 12 h: %v, want ErrSessionExpired", err)
	}

	// Logout.
	token, _, err = e.svc.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Session(ctx, token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("deleted session: %v, want ErrInvalidToken", err)
	}
	if err := e.svc.DeleteSession(ctx, token); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}

	if _, err := e.svc.Disable(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.CreateSession(ctx, u.ID); !errors.Is(err, ErrDisabled) {
		t.Fatalf("CreateSession for a disabled user: %v, want ErrDisabled", err)
	}
	if _, _, err := e.svc.CreateSession(ctx, "no-such-user"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateSession for an unknown user: %v, want ErrNotFound", err)
	}

	for _, bad := range []string{"", "short", token + "x", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, _, err := e.svc.Session(ctx, bad); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("Session(%q): %v, want ErrInvalidToken", bad, err)
		}
	}
}

func TestPurgeSessions(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	u := e.addUser(t, "p@example.org", goodPassword)
	for range 3 {
		if _, _, err := e.svc.CreateSession(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Advance(31 * time.Minute)
	live, _, err := e.svc.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.PurgeSessions(ctx)
	if err != nil || n != 3 {
		t.Fatalf("PurgeSessions = %d, %v; want 3", n, err)
	}
	if _, _, err := e.svc.Session(ctx, live); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
}
