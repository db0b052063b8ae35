package node

import (
	"errors"
	"fmt"
	"testing"

	"valise/account"
	"valise/adminapi"
	"valise/raftfsm"
)

// TestTranslate checks the admin codes of domain and store errors: a domain error by its
// kind (adminapi.CodeOf), a change still conflicting after its retries as unavailable, as in
// the HTTP API (issue 17 item 2).
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string // "" for an error passed on unchanged (internal)
	}{
		{"e-mail taken", &account.UserError{Err: account.ErrEmailTaken}, adminapi.CodeConflict},
		{"no such user", &account.UserError{Err: fmt.Errorf("find: %w", account.ErrNotFound)}, adminapi.CodeNotFound},
		{"disabled user", &account.UserError{Err: account.ErrDisabled}, adminapi.CodeConflict},
		{"bad input", &account.UserError{Err: account.ErrInvalidEmail}, adminapi.CodeInvalidValue},
		{"plain not found", account.ErrNotFound, adminapi.CodeNotFound},
		{"conflict after retries", fmt.Errorf("add: %w: %w", account.ErrUnavailable, raftfsm.ErrConflict), adminapi.CodeUnavailable},
		{"not leader, through account", fmt.Errorf("%w: %w", account.ErrUnavailable, raftfsm.ErrNotLeader), adminapi.CodeNotLeader},
		{"no leader", raftfsm.ErrNoLeader, adminapi.CodeUnavailable},
		{"setting changed meanwhile", &raftfsm.ConflictError{}, adminapi.CodeConflict},
		{"unknown", errors.New("disk on fire"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := translate(tc.err)
			var e *adminapi.Error
			switch {
			case tc.code == "" && errors.As(err, &e):
				t.Fatalf("translate(%v) = %+v, want the error unchanged", tc.err, e)
			case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code):
				t.Fatalf("translate(%v) = %v, want code %s", tc.err, err, tc.code)
			}
		})
	}
}
