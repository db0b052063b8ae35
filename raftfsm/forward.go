package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Retrying a write while the leader changes (issue 18: any node takes any request).
//
// A Store with a Forwarder proposes on the leader, wherever it is: here when this node leads,
// else through Deps.Forward. When the leader changes under a write (it was killed, it stepped
// down, an election is running), forward tries again within the caller's ctx and ApplyTimeout,
// first waiting for a leader, but only when the retry cannot apply the batch twice:
//
//   - nothing was proposed: no leader was known, the leader could not be reached before the
//     batch was sent (ErrNoLeader), or the node asked answered that it does not lead
//     (ErrNotLeader, ErrClosed) — raft refuses a command before appending it, so a node that
//     says so has not proposed it;
//   - the outcome is unknown (the batch was sent, then the connection or the leadership was
//     lost: ErrOutcomeUnknown) and the batch fences itself (fencesItself): one of its
//     conditions is made false by its own application, so that a second copy can only fail its
//     precondition. A retry that commits proves the first copy never will (a later entry
//     committed in a newer term, by raft's log matching, excludes it); a retry that conflicts
//     leaves the outcome unknown, since the first copy or another writer may have made the
//     condition false, and Propose says ErrOutcomeUnknown, not the conflict.
//
// Anything else ends the call: a conflict or an invalid batch (the leader's answer), an
// unknown outcome of a batch that does not fence itself (the caller re-reads, as Propose
// says), a batch committed on the leader but not yet applied here. Once one attempt may have
// committed the batch, every later failure still says ErrOutcomeUnknown.

// Bounds of the pause between two attempts when the same node is still named leader; the
// upper one is the Config's HeartbeatTimeout, by which a dead leader is noticed.
const retryMinWait = 10 * time.Millisecond

// forward proposes an encoded batch on the leader, retrying as the comment above says, and
// waits until this node has applied it, so that a read here after Propose sees the write, as
// on the leader; all within ApplyTimeout.
func (s *Store) forward(ctx context.Context, b Batch, data []byte) (Result, error) {
	// Bounded as on the leader: a follower cut off after the commit must not wait forever.
	ctx, cancel := context.WithTimeout(ctx, s.timeout(ctx))
	defer cancel()
	fenced := fencesItself(b)
	maybeApplied := false // an earlier attempt may have committed b
	wait := retryMinWait
	for attempt := 0; ; attempt++ {
		r, to, err := s.proposeOnLeader(ctx, data)
		if err == nil {
			return r, nil
		}
		var ce *ConflictError
		switch {
		case errors.As(err, &ce):
			if maybeApplied {
				return Result{}, fmt.Errorf("propose: %w: a retry after it met a conflict (%v): the first attempt may have committed", ErrOutcomeUnknown, ce)
			}
			return Result{}, ce // the leader's own answer, as its Propose gives it
		case errors.Is(err, ErrOutcomeUnknown):
			maybeApplied = true
			if !fenced || errors.Is(err, errCommitted) {
				return Result{}, err
			}
		case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader), errors.Is(err, ErrClosed):
			// Not proposed: a retry is safe.
		default:
			return Result{}, unknownIf(maybeApplied, err)
		}
		if s.isClosed() {
			return Result{}, unknownIf(maybeApplied, fmt.Errorf("%w (last attempt: %v)", ErrClosed, err))
		}
		s.logger.Debug("leader changing: proposing again", attrAddr, string(to), attrFailures, attempt+1, attrErr, err)
		if werr := s.waitNextLeader(ctx, to, wait); werr != nil {
			return Result{}, unknownIf(maybeApplied, fmt.Errorf("%w (waiting for the next leader: %v)", err, werr))
		}
		wait = min(2*wait, s.cfg.HeartbeatTimeout)
	}
}

// errCommitted marks an unknown outcome whose batch is known committed on the leader (not yet
// applied here): never proposed again.
var errCommitted = errors.New("committed on the leader")

// unknownIf wraps err in ErrOutcomeUnknown when an earlier attempt may have committed.
func unknownIf(maybeApplied bool, err error) error {
	if !maybeApplied || errors.Is(err, ErrOutcomeUnknown) {
		return err
	}
	return fmt.Errorf("propose: %w: an earlier attempt may have committed: %w", ErrOutcomeUnknown, err)
}

// proposeOnLeader makes one attempt: here when this node leads, else through the Forwarder to
// the leader this node knows of, whose address it returns ("" for this node). After a
// forwarded commit it waits until this node has applied the batch.
func (s *Store) proposeOnLeader(ctx context.Context, data []byte) (Result, raft.ServerAddress, error) {
	if s.raft.State() == raft.Leader {
		r, err := s.proposeHere(ctx, data)
		return r, "", err
	}
	addr, id := s.raft.LeaderWithID()
	if id == "" || addr == "" {
		return Result{}, "", fmt.Errorf("propose: %w", ErrNoLeader)
	}
	r, err := s.deps.Forward.Forward(ctx, addr, data)
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) {
			return Result{}, addr, ce
		}
		return Result{}, addr, fmt.Errorf("propose via leader %s: %w", id, err)
	}
	if err := s.WaitApplied(ctx, r.Index); err != nil {
		// Committed on the leader, not yet applied here: to the caller, as if unknown.
		return Result{}, addr, fmt.Errorf("propose via leader %s: %w at index %d, not yet applied here: %w: %w", id, errCommitted, r.Index, ErrOutcomeUnknown, err)
	}
	return r, addr, nil
}

// waitNextLeader returns once a leader is known that is not the node at failed, or the same
// one after at least minWait (it may have been re-elected, or this node's view lags); or with
// ctx's error or ErrClosed. failed is "" when the last attempt was on this node or found no
// leader: this node leading then counts after minWait too, so that a leader refusing for a
// while (a leadership transfer) is not asked again in a tight loop.
func (s *Store) waitNextLeader(ctx context.Context, failed raft.ServerAddress, minWait time.Duration) error {
	start := time.Now()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if s.isClosed() {
			return ErrClosed
		}
		waited := time.Since(start) >= minWait
		addr, id := s.raft.LeaderWithID()
		switch {
		case s.raft.State() == raft.Leader:
			if failed != "" || waited {
				return nil
			}
		case id != "" && addr != "" && (addr != failed || waited):
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closedCh:
			return ErrClosed
		case <-t.C:
		}
	}
}

// fencesItself reports whether applying b makes one of its own conditions false, so that a
// second copy of b can only fail its precondition: a condition on a key whose final op in b
// (the last one on that key) is
//
//	CondAbsent  and a put (the key then exists),
//	CondPresent and a delete (the key is then gone),
//	CondVersion and either (a put gives the key the batch's log index as its version, above
//	            any version it had; a delete removes it).
func fencesItself(b Batch) bool {
	for _, c := range b.Conds {
		last := -1
		for i, op := range b.Ops {
			if bytes.Equal(op.Key, c.Key) {
				last = i
			}
		}
		if last < 0 {
			continue
		}
		switch op := b.Ops[last]; {
		case c.Kind == CondAbsent && op.Kind == OpPut,
			c.Kind == CondPresent && op.Kind == OpDelete,
			c.Kind == CondVersion:
			return true
		}
	}
	return false
}
