package raftfsm

import (
	"fmt"
	"testing"

	"valise/fault"
)

// TestNotNowErrorsKinded checks that the store's "not now" errors carry the kind Unavailable
// and the code "unavailable" through any wrapping, so that domain packages need no wrapper of
// the store and front ends answer 503 without importing raftfsm; the others stay internal
// (issue 17 item 2).
func TestNotNowErrorsKinded(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		kind fault.Kind
	}{
		{"not leader", ErrNotLeader, fault.Unavailable},
		{"no leader", ErrNoLeader, fault.Unavailable},
		{"closed", ErrClosed, fault.Unavailable},
		{"conflict", &ConflictError{Cond: Cond{Key: []byte("k")}}, fault.Internal},
		{"not found", ErrNotFound, fault.Internal},
		{"invalid batch", ErrInvalidBatch, fault.Internal},
		{"outcome unknown", ErrOutcomeUnknown, fault.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("transfer: create send: %w", tc.err)
			if got := fault.KindOf(err); got != tc.kind {
				t.Fatalf("KindOf(%v) = %v, want %v", err, got, tc.kind)
			}
			want := fault.InternalCode
			if tc.kind == fault.Unavailable {
				want = fault.UnavailableCode
			}
			if got := fault.CodeOf(err); got != want {
				t.Fatalf("CodeOf(%v) = %q, want %q", err, got, want)
			}
		})
	}
}
