package account

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"valise/fault"
	"valise/raftfsm"
)

// refusingStore is a Store whose changes and linearizable reads all fail with err.
type refusingStore struct {
	Store
	err error
}

func (s refusingStore) Propose(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
	return raftfsm.Result{}, s.err
}
func (s refusingStore) LinearizableRead(context.Context) error { return s.err }

// TestStoreErrorsKinded checks that the store's errors reach account's callers with their
// kind: "not now" errors are Unavailable (raftfsm gives them the kind, so neither account nor
// httpd needs a translation table) and keep their cause; other errors stay Internal (issue 17
// item 2). It goes through a Service whose changes and linearizable reads fail.
func TestStoreErrorsKinded(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		err  error
		kind fault.Kind
	}{
		{"not leader", raftfsm.ErrNotLeader, fault.Unavailable},
		{"no leader", fmt.Errorf("read index: %w", raftfsm.ErrNoLeader), fault.Unavailable},
		{"closed", raftfsm.ErrClosed, fault.Unavailable},
		{"other", errors.New("disk on fire"), fault.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := New(testConfig(e.clk), refusingStore{Store: e.store, err: tc.err}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, addErr := svc.Add(ctxT(t), NewUser{Email: "kind@example.org", Password: "a long enough passphrase"})
			_, readErr := svc.CheckPassword(ctxT(t), "kind@example.org", "a long enough passphrase")
			for _, err := range []error{addErr, readErr} {
				if got := fault.KindOf(err); got != tc.kind {
					t.Errorf("KindOf(%v) = %v, want %v", err, got, tc.kind)
				}
				if !errors.Is(err, tc.err) {
					t.Errorf("%v lost its cause %v", err, tc.err)
				}
			}
		})
	}
}
