package transfer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"valise/raftfsm"
)

// lostReply is the metadata of a node whose leader changed while a write was in flight: while
// lose is set, Propose commits the batch (commit true) or not, and answers that its outcome is
// unknown either way, as raftfsm does when the reply was lost.
type lostReply struct {
	Metadata
	lose, commit bool
	// noLeader is how many linearizable reads fail next, as while the cluster elects a leader.
	noLeader int
}

func (l *lostReply) LinearizableRead(ctx context.Context) error {
	if l.noLeader > 0 {
		l.noLeader--
		return fmt.Errorf("linearizable read: %w", raftfsm.ErrNoLeader)
	}
	return l.Metadata.LinearizableRead(ctx)
}

func (l *lostReply) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	if !l.lose {
		return l.Metadata.Propose(ctx, b)
	}
	if l.commit {
		if _, err := l.Metadata.Propose(ctx, b); err != nil {
			return raftfsm.Result{}, err
		}
	}
	return raftfsm.Result{}, fmt.Errorf("propose: %w: the leader changed", raftfsm.ErrOutcomeUnknown)
}

// TestUnknownOutcomeSettled: a change whose outcome raftfsm could not know (issue 18: the
// leader killed or deposed while an upload's lease, its completion or a send was in flight)
// is settled by re-reading, once a leader answers again: committed, it succeeds with the
// version the store gave it; not committed, it still says the outcome is unknown, never that
// it succeeded.
func TestUnknownOutcomeSettled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool
	}{
		{"committed", true},
		{"not committed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lr *lostReply
			e := newEnv(t, func(_ *Config, d *Deps) { lr = &lostReply{Metadata: d.Store}; d.Store = lr })
			up, err := e.svc.CreateUpload(e.ctx, owner, "f.bin", 100, nil)
			if err != nil {
				t.Fatal(err)
			}
			lr.lose, lr.commit, lr.noLeader = true, tc.commit, 2
			created, createErr := e.svc.CreateUpload(e.ctx, owner, "g.bin", 100, nil)
			l, leaseErr := e.svc.AcquireLease(e.ctx, owner, up.ID, "node-a", time.Minute, 1)
			lr.lose = false
			if leaseErr == nil {
				// Progress under the lease goes through the lease fence's own proposal.
				lr.lose = true
				_, progressErr := e.svc.RecordProgressLeased(e.ctx, owner, l, 0, 10, []byte("state"))
				lr.lose = false
				if progressErr != nil {
					t.Fatalf("progress committed with a lost reply: %v", progressErr)
				}
				if got, err := e.svc.GetUpload(e.ctx, owner, up.ID); err != nil || got.Offset != 10 {
					t.Fatalf("the progress recorded: %+v, %v; want offset 10", got, err)
				}
			}
			if !tc.commit {
				for _, err := range []error{createErr, leaseErr} {
					if !errors.Is(err, raftfsm.ErrOutcomeUnknown) {
						t.Fatalf("a change not committed = %v, want the outcome unknown", err)
					}
				}
				return
			}
			if createErr != nil || leaseErr != nil {
				t.Fatalf("committed changes with a lost reply: %v, %v", createErr, leaseErr)
			}
			got, err := e.svc.GetUpload(e.ctx, owner, created.ID)
			if err != nil || got.Version != created.Version {
				t.Fatalf("the upload created: %+v, %v; the call said version %d", got, err, created.Version)
			}
			// The lease is the one stored: renewing it under its epoch works.
			if _, err := e.svc.RenewLease(e.ctx, l, time.Minute); err != nil {
				t.Fatalf("renew the settled lease %+v: %v", l, err)
			}
		})
	}
}
