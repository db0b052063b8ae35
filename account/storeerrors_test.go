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

// TestStoreErrorsKinded checks that account translates the store's errors at its boundary:
// "not now" errors become Unavailable (so httpd never needs raftfsm) and keep their cause;
// a condition that failed stays what it was, for the retry loops (issue 17 item 2).
func TestStoreErrorsKinded(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		kind fault.Kind
	}{
		{"not leader", raftfsm.ErrNotLeader, fault.Unavailable},
		{"no leader", fmt.Errorf("propose: %w", raftfsm.ErrNoLeader), fault.Unavailable},
		{"closed", raftfsm.ErrClosed, fault.Unavailable},
		{"conflict", &raftfsm.ConflictError{}, fault.Internal},
		{"other", errors.New("disk on fire"), fault.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storeErrors{refusingStore{err: tc.err}}
			_, perr := s.Propose(context.Background(), raftfsm.Batch{})
			rerr := s.LinearizableRead(context.Background())
			for _, err := range []error{perr, rerr} {
				if got := fault.KindOf(err); got != tc.kind {
					t.Errorf("KindOf(%v) = %v, want %v", err, got, tc.kind)
				}
				if !errors.Is(err, tc.err) && !errors.Is(err, raftfsm.ErrConflict) {
					t.Errorf("%v lost its cause %v", err, tc.err)
				}
			}
		})
	}
}
