package account

import (
	"errors"
	"testing"
)

// TestPasswordChangeEndsOtherSessionsAndTokens guards against a stolen session or token
// outliving the password change meant to shut its thief out (issue 16 item 9): SetPassword
// keeps only the session it was made from; ResetPassword keeps none; every token ends.
func TestPasswordChangeEndsOtherSessionsAndTokens(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    func(e *env, keep string) error
		keepsMine bool
	}{
		{"set from a session", func(e *env, keep string) error {
			return e.svc.SetPassword(ctxT(t), "pw@example.org", "another long passphrase", keep)
		}, true},
		{"reset by an administrator", func(e *env, _ string) error {
			_, err := e.svc.ResetPassword(ctxT(t), "pw@example.org")
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := ctxT(t)
			u := e.addUser(t, "pw@example.org", goodPassword)
			other := e.addUser(t, "other@example.org", goodPassword)
			mine, _, err := e.svc.CreateSession(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			thief, _, err := e.svc.CreateSession(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, tok, err := e.svc.CreateToken(ctx, u.ID, "laptop")
			if err != nil {
				t.Fatal(err)
			}
			otherSess, _, err := e.svc.CreateSession(ctx, other.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, otherTok, err := e.svc.CreateToken(ctx, other.ID, "script")
			if err != nil {
				t.Fatal(err)
			}

			if err := tc.change(e, mine); err != nil {
				t.Fatal(err)
			}

			if _, _, err := e.svc.Session(ctx, thief); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("another session after the change: %v, want ErrInvalidToken", err)
			}
			_, _, err = e.svc.Session(ctx, mine)
			if tc.keepsMine && err != nil {
				t.Errorf("the session the change was made from: %v", err)
			}
			if !tc.keepsMine && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("a session after a reset: %v, want ErrInvalidToken", err)
			}
			if _, _, err := e.svc.AuthenticateToken(ctx, tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("a token after the change: %v, want ErrInvalidToken", err)
			}
			if list, err := e.svc.ListTokens(ctx, u.ID); err != nil || len(list) != 0 {
				t.Errorf("tokens listed after the change: %+v, %v", list, err)
			}
			// Other users keep theirs.
			if _, _, err := e.svc.Session(ctx, otherSess); err != nil {
				t.Errorf("another user's session: %v", err)
			}
			if _, _, err := e.svc.AuthenticateToken(ctx, otherTok); err != nil {
				t.Errorf("another user's token: %v", err)
			}
			// What is made after the change works.
			fresh, _, err := e.svc.CreateSession(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.svc.Session(ctx, fresh); err != nil {
				t.Errorf("a session opened after the change: %v", err)
			}
			_, newTok, err := e.svc.CreateToken(ctx, u.ID, "new")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.svc.AuthenticateToken(ctx, newTok); err != nil {
				t.Errorf("a token made after the change: %v", err)
			}
		})
	}
}
