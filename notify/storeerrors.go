package notify

import (
	"context"
	"errors"
	"fmt"

	"valise/raftfsm"
)

// storeErrors is the Store a Sender uses: it translates the store's "not now" errors at
// notify's boundary (docs/style.md §4), wrapping them in ErrUnavailable so front ends map them
// without importing raftfsm (issue 17 item 2); the store's error stays in the chain.
type storeErrors struct{ Store }

// Propose implements Store.
func (s storeErrors) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	res, err := s.Store.Propose(ctx, b)
	if errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader) || errors.Is(err, raftfsm.ErrClosed) {
		return res, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return res, err
}
