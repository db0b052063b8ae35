package transfer

import (
	"context"
	"errors"
	"fmt"

	"valise/raftfsm"
)

// storeErrors is the Metadata a Service uses: it translates the store's "not now" errors at
// transfer's boundary (docs/style.md §4), wrapping them in ErrUnavailable so front ends map
// them without importing raftfsm (issue 17 item 2). The store's own error stays in the chain,
// so the retry loops still see raftfsm.ErrConflict and the sweeps raftfsm.ErrNotLeader.
type storeErrors struct{ Metadata }

// Propose implements Metadata.
func (s storeErrors) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	res, err := s.Metadata.Propose(ctx, b)
	return res, unavailable(err)
}

// LinearizableRead implements Metadata.
func (s storeErrors) LinearizableRead(ctx context.Context) error {
	return unavailable(s.Metadata.LinearizableRead(ctx))
}

// unavailable wraps err in ErrUnavailable when the store cannot answer now.
func unavailable(err error) error {
	if errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader) || errors.Is(err, raftfsm.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
