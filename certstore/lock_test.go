package certstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// exclusion has each locker take the same lock rounds times, and checks that no two are
// ever inside together. Inside, each writes and reads back a key through its storage, so that
// the critical section spans Raft commits.
func exclusion(t *testing.T, lockers []*Storage, rounds int) {
	t.Helper()
	ctx := testCtx(t)
	var inside atomic.Int32
	var entered atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, len(lockers)*rounds)
	for i, s := range lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := s.Lock(ctx, "issue_cert_localhost"); err != nil {
					errs <- fmt.Errorf("locker %d round %d: lock: %w", i, r, err)
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- fmt.Errorf("locker %d round %d: %d holders inside", i, r, n)
				}
				entered.Add(1)
				mine := fmt.Sprintf("locker %d round %d", i, r)
				if err := s.Store(ctx, "shared/owner", []byte(mine)); err != nil {
					errs <- err
				}
				if got, err := s.Load(ctx, "shared/owner"); err != nil || string(got) != mine {
					errs <- fmt.Errorf("%s: read back %q, %v: another holder wrote inside", mine, got, err)
				}
				inside.Add(-1)
				if err := s.Unlock(ctx, "issue_cert_localhost"); err != nil {
					errs <- fmt.Errorf("%s: unlock: %w", mine, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := int(entered.Load()); got != len(lockers)*rounds {
		t.Errorf("%d critical sections entered, want %d", got, len(lockers)*rounds)
	}
}

// TestLockExcludesGoroutines: two goroutines on one Storage.
func TestLockExcludesGoroutines(t *testing.T) {
	s := newStorage(t, testConfig("node-1"), Deps{Store: singleNode(t)})
	exclusion(t, []*Storage{s, s}, 4)
}

// TestLockExcludesNodes: two nodes of a three-node cluster, each with its own Storage reading
// its own state; the follower proposes through the leader, as the node's forwarding does.
func TestLockExcludesNodes(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	leader := c.Leader(t)
	follower := c.Followers(t)[0]
	a := newStorage(t, testConfig(c.ID(leader)), Deps{Store: leaderStore{c, leader}})
	b := newStorage(t, testConfig(c.ID(follower)), Deps{Store: leaderStore{c, follower}})
	exclusion(t, []*Storage{a, b}, 3)
	c.RequireSameState(t)
}

// TestLockOnFollowerWithoutForwarding: a follower's own store refuses writes; Lock says so at
// once instead of waiting out its context.
func TestLockOnFollowerWithoutForwarding(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	f := c.Followers(t)[0]
	s := newStorage(t, testConfig(c.ID(f)), Deps{Store: c.Store(f)})
	if err := s.Lock(testCtx(t), "x"); !errors.Is(err, raftfsm.ErrNotLeader) {
		t.Fatalf("Lock on a follower = %v, want ErrNotLeader", err)
	}
}

// TestStaleLeaseTakenOver: a node that dies holding a lock (its lease no longer renewed)
// blocks the others only until the lease expires; then its lease is taken over, and its late
// Unlock reports the loss without releasing the new holder's lock.
func TestStaleLeaseTakenOver(t *testing.T) {
	st := singleNode(t)
	clk := newClock()
	cfg := testConfig("node-1")
	cfg.LeaseTTL, cfg.LeaseRenew = time.Minute, 20*time.Second
	dead := newStorage(t, cfg, Deps{Store: st, Now: clk.Now})
	cfg.Holder = "node-2"
	alive := newStorage(t, cfg, Deps{Store: st, Now: clk.Now})
	ctx := testCtx(t)

	if err := dead.Lock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatal(err)
	}
	// The holder dies: its keeper stops, its lease stays.
	if err := dead.Close(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := alive.Lock(short, "issue_cert_localhost")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while the lease is live = %v, want DeadlineExceeded", err)
	}

	clk.Advance(time.Minute + time.Second)
	if err := alive.Lock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatalf("Lock after the lease expired = %v", err)
	}
	_, l, err := alive.readLease(lockKey("issue_cert_localhost"))
	if err != nil || l.Holder != "node-2" || !l.Expires.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("lease after the takeover = %+v, %v", l, err)
	}

	// A holder whose lease was taken over learns it at Unlock, and the new lease survives.
	cfg.Holder = "node-3"
	slow := newStorage(t, cfg, Deps{Store: st, Now: clk.Now})
	if err := slow.Lock(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if err := alive.Lock(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := slow.Unlock(ctx, "other"); !errors.Is(err, ErrLockLost) {
		t.Fatalf("Unlock of a lease taken over = %v, want ErrLockLost", err)
	}
	if _, l, err := alive.readLease(lockKey("other")); err != nil || l.Holder != "node-2" {
		t.Fatalf("the new holder's lease after the old holder's Unlock: %+v, %v", l, err)
	}
	if err := alive.Unlock(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := alive.Unlock(ctx, "other"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second Unlock = %v, want ErrNotHeld", err)
	}
}

// TestLeaseRenewed: a holder renews its lease while it holds the lock, so a long critical
// section is not taken over.
func TestLeaseRenewed(t *testing.T) {
	st := singleNode(t)
	clk := newClock()
	cfg := testConfig("node-1")
	cfg.LeaseTTL, cfg.LeaseRenew = time.Second, 20*time.Millisecond
	s := newStorage(t, cfg, Deps{Store: st, Now: clk.Now})
	ctx := testCtx(t)
	if err := s.Lock(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	first, _, err := s.readLease(lockKey("long"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond)
	deadline := time.Now().Add(rafttest.WaitTimeout)
	for {
		it, l, err := s.readLease(lockKey("long"))
		if err != nil {
			t.Fatal(err)
		}
		if it.Version > first.Version && l.Expires.Equal(clk.Now().Add(time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease not renewed: %+v", l)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
	if err := s.Unlock(ctx, "long"); err != nil {
		t.Fatal(err)
	}
}
