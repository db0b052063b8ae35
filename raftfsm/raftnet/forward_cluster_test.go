package raftnet_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/internal/poll"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// condPut puts value at key only if key is absent: a batch that can apply once at most, so
// that a retry after an unknown outcome is safe (the store's documented idempotence).
func condPut(action, key, value string) raftfsm.Batch {
	b := rafttest.Put(key, value)
	b.Audit.Action = action
	b.Conds = []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(key)}}
	return b
}

// retriable reports whether err says "not now, try again": the leader is changing or gone.
func retriable(err error) bool {
	return errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader) ||
		errors.Is(err, raftfsm.ErrOutcomeUnknown) || errors.Is(err, raftfsm.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

// proposeOnce proposes condPut(action, key, value) on node i until it is known applied, as a
// domain package would: an unknown outcome is retried, and a conflict after one means an
// earlier attempt committed, which the value must show. It returns the number of unknown
// outcomes met, and fails on any error that is not retriable.
func proposeOnce(ctx context.Context, c *rafttest.Cluster, i int, action, key, value string) (unknown int, err error) {
	b := condPut(action, key, value)
	for {
		s := c.Store(i)
		for j := 0; s == nil && j < c.N(); j++ {
			s = c.Store(j) // node i was killed (it had become the leader): go on elsewhere
		}
		if s == nil {
			return unknown, fmt.Errorf("%s: no node up", key)
		}
		_, err := s.Propose(ctx, b)
		var ce *raftfsm.ConflictError
		switch {
		case err == nil:
			return unknown, nil
		case errors.As(err, &ce) && unknown > 0:
			if err := s.LinearizableRead(ctx); err != nil {
				if retriable(err) && ctx.Err() == nil {
					continue
				}
				return unknown, err
			}
			it, gerr := s.Get([]byte(key))
			if gerr != nil || string(it.Value) != value {
				return unknown, fmt.Errorf("%s: conflict after an unknown outcome, but %s = %q, %v", c.ID(i), key, it.Value, gerr)
			}
			return unknown, nil
		case ctx.Err() != nil:
			return unknown, fmt.Errorf("%s: %s: %w (last: %v)", c.ID(i), key, ctx.Err(), err)
		case retriable(err):
			if errors.Is(err, raftfsm.ErrOutcomeUnknown) {
				unknown++
			}
			// Pace the retries while the cluster elects (not a wait for a condition).
			t := time.NewTimer(10 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		default:
			return unknown, fmt.Errorf("%s: %s: %w", c.ID(i), key, err)
		}
	}
}

// proposeOnFollower proposes b on a follower, picking one again while the leader changes
// (ErrNotLeader, ErrNoLeader: nothing proposed); an unknown outcome fails the test, b need not
// be idempotent. It returns the node that took b.
func proposeOnFollower(t *testing.T, c *rafttest.Cluster, b raftfsm.Batch) (int, raftfsm.Result, error) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	for {
		f := c.Followers(t)[0]
		res, err := c.Store(f).Propose(ctx, b)
		if (errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader)) && !errors.Is(err, raftfsm.ErrOutcomeUnknown) && ctx.Err() == nil {
			t.Logf("%s: %v; again", c.ID(f), err)
			continue
		}
		return f, res, err
	}
}

// requireExactlyOnce checks, on every live node, that every key holds its value and that the
// journal records action exactly once per key.
func requireExactlyOnce(t *testing.T, c *rafttest.Cluster, action string, want map[string]string) {
	t.Helper()
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for i := range c.N() {
		s := c.Store(i)
		if s == nil {
			continue
		}
		for k, v := range want {
			it, err := s.Get([]byte(k))
			if err != nil || string(it.Value) != v {
				t.Fatalf("%s: %s = %q, %v; want %q", c.ID(i), k, it.Value, err, v)
			}
		}
		n := 0
		if err := s.Journal(1, func(e raftfsm.Entry) error {
			if e.Action == action {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Fatalf("%s: journal holds %d %q entries, want %d (each batch applied once)", c.ID(i), n, action, len(want))
		}
	}
}

// TestForwardCluster (issue 18, any node takes any request): on a real three-node cluster over
// mutual TLS, a follower's Propose is forwarded to the leader, commits, is readable at once on
// the follower and on every node after a linearizable read; a conflict on the leader comes
// back with its details; an oversized batch is refused before anything is sent; a concurrent
// burst from both followers commits exactly once.
func TestForwardCluster(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithMTLS(), rafttest.WithForwarding())
	t.Run("follower write", func(t *testing.T) {
		var before uint64
		for i := range c.N() {
			before += c.ForwardCalls(i)
		}
		f, res, err := proposeOnFollower(t, c, rafttest.Put("w/1", "v1"))
		if err != nil {
			t.Fatalf("propose on follower %s: %v", c.ID(f), err)
		}
		var after uint64
		for i := range c.N() {
			after += c.ForwardCalls(i)
		}
		if after == before {
			t.Fatalf("follower %s proposed without forwarding", c.ID(f))
		}
		// Applied here before Propose returned: read-your-writes on the follower.
		if it, err := c.Store(f).Get([]byte("w/1")); err != nil || it.Version != res.Index || string(it.Value) != "v1" {
			t.Fatalf("follower %s right after its write: %+v, %v; want v1 at %d", c.ID(f), it, err, res.Index)
		}
		for i := range c.N() {
			// A leader change under load makes the read fail with "not now": read again.
			poll.UntilNil(t, c.ID(i)+": a linearizable read", func() error {
				err := c.Store(i).LinearizableRead(ctxT(t, time.Minute))
				if err != nil && !retriable(err) {
					t.Fatalf("%s: linearizable read: %v", c.ID(i), err)
				}
				return err
			})
			if it, err := c.Store(i).Get([]byte("w/1")); err != nil || string(it.Value) != "v1" || it.Version != res.Index {
				t.Fatalf("%s: w/1 = %+v, %v; want v1 at %d", c.ID(i), it, err, res.Index)
			}
		}
	})

	t.Run("conflict with details", func(t *testing.T) {
		res := c.ProposeLeader(t, rafttest.Put("w/c", "x"))
		for _, cond := range []raftfsm.Cond{
			{Kind: raftfsm.CondVersion, Key: []byte("w/c"), Version: res.Index + 1000},
			{Kind: raftfsm.CondAbsent, Key: []byte("w/c")},
		} {
			b := rafttest.Put("w/c", "y")
			b.Conds = []raftfsm.Cond{cond}
			_, _, err := proposeOnFollower(t, c, b)
			var ce *raftfsm.ConflictError
			if !errors.Is(err, raftfsm.ErrConflict) || !errors.As(err, &ce) {
				t.Fatalf("%v on follower: %v, want a *ConflictError", cond.Kind, err)
			}
			if ce.Cond.Kind != cond.Kind || string(ce.Cond.Key) != "w/c" || ce.Cond.Version != cond.Version || ce.Version != res.Index {
				t.Fatalf("%v on follower: conflict %+v, want cond %+v and version %d", cond.Kind, ce, cond, res.Index)
			}
		}
		c.RequireSameState(t)
		for i := range c.N() {
			if it, err := c.Store(i).Get([]byte("w/c")); err != nil || string(it.Value) != "x" {
				t.Fatalf("%s: w/c after the conflicts: %q, %v; want x", c.ID(i), it.Value, err)
			}
		}
	})

	t.Run("oversized batch refused before sending", func(t *testing.T) {
		calls := func() (n uint64) {
			for i := range c.N() {
				n += c.ForwardCalls(i)
			}
			return n
		}
		before := calls()
		b := rafttest.Put("w/big", "")
		b.Ops[0].Value = make([]byte, raftfsm.MaxBatchSize+1)
		f := c.Followers(t)[0]
		if _, err := c.Store(f).Propose(ctxT(t, time.Minute), b); !errors.Is(err, raftfsm.ErrInvalidBatch) {
			t.Fatalf("oversized batch on follower %s: %v, want ErrInvalidBatch", c.ID(f), err)
		}
		if calls() != before {
			t.Fatal("an oversized batch was forwarded")
		}
	})

	t.Run("burst from both followers", func(t *testing.T) {
		fs := c.Followers(t)
		const perFollower = 25
		want := map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, 2*perFollower)
		ctx := ctxT(t, 2*time.Minute)
		for _, node := range fs {
			for k := range perFollower {
				key, value := fmt.Sprintf("burst/%s/%02d", c.ID(node), k), fmt.Sprintf("v%d", k)
				mu.Lock()
				want[key] = value
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := proposeOnce(ctx, c, node, "test.burst", key, value); err != nil {
						errs <- err
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		requireExactlyOnce(t, c, "test.burst", want)
	})
}

// killLeaderAfter kills the leader once a stream of writes is under way (done has reached n)
// and returns its index.
func killLeaderAfter(t *testing.T, c *rafttest.Cluster, done *atomic.Int64, n int64) int {
	t.Helper()
	poll.Until(t, "some forwarded batches committed", func() bool { return done.Load() >= n })
	old := c.Leader(t)
	c.Kill(old)
	return old
}

// TestForwardLeaderKilled (issue 18): the leader is killed while both followers forward a
// stream of conditional batches. Every caller gets either its result or a retriable error;
// retried as a domain package would, every batch ends up applied exactly once — no batch
// acknowledged then lost, none applied twice — on every node, the old leader restarted.
func TestForwardLeaderKilled(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithMTLS(), rafttest.WithForwarding())
	fs := c.Followers(t)
	const perWorker, workersPerFollower = 15, 3
	ctx := ctxT(t, 3*time.Minute)
	var done, unknown atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(fs)*workersPerFollower)
	want := map[string]string{}
	for _, node := range fs {
		for w := range workersPerFollower {
			var keys []string
			for k := range perWorker {
				key := fmt.Sprintf("kill/%s/%d/%02d", c.ID(node), w, k)
				want[key] = "v-" + key
				keys = append(keys, key)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, key := range keys {
					u, err := proposeOnce(ctx, c, node, "test.kill", key, "v-"+key)
					unknown.Add(int64(u))
					if err != nil {
						errs <- err
						return
					}
					done.Add(1)
				}
			}()
		}
	}
	old := killLeaderAfter(t, c, &done, 5)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if l := c.Leader(t); l == old {
		t.Fatalf("the killed node %s still leads", c.ID(old))
	}
	t.Logf("%d batches, %d unknown outcomes retried", done.Load(), unknown.Load())
	c.Restart(old)
	requireExactlyOnce(t, c, "test.kill", want)
}

// TestForwardRetriesLeaderKilled (issue 18, forwarding retries): the leader is killed while
// both followers forward a stream of writes that their callers propose once each, without
// retrying. Propose retries inside, within its context, while the cluster elects a new
// leader: no caller sees "no leader" or "not the leader" (nothing proposed), only a result or
// an unknown outcome. Every acknowledged write is present exactly once on every node (the old
// leader restarted), and no write, acknowledged or not, is applied twice — though half of
// them are unconditional puts, which a careless retry would duplicate.
func TestForwardRetriesLeaderKilled(t *testing.T) {
	// A generous ApplyTimeout: the retries end with the election, not with the clock.
	c := rafttest.NewCluster(t, 3, rafttest.WithMTLS(), rafttest.WithForwarding(),
		rafttest.WithConfig(func(cfg *raftfsm.Config) { cfg.ApplyTimeout = time.Minute }))
	fs := c.Followers(t)
	const perWorker, workersPerFollower = 20, 3
	const action = "test.once"
	ctx := ctxT(t, 3*time.Minute)
	type outcome struct {
		key, value string
		err        error
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	results := make(chan outcome, len(fs)*workersPerFollower*perWorker)
	for _, node := range fs {
		s := c.Store(node) // a follower: never killed here
		for w := range workersPerFollower {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perWorker {
					key := fmt.Sprintf("once/%s/%d/%02d", c.ID(node), w, k)
					value := "v-" + key
					b := rafttest.Put(key, value)
					b.Audit.Action = action
					if k%2 == 0 {
						b = condPut(action, key, value) // fences itself: retried even after an unknown outcome
					}
					_, err := s.Propose(ctx, b)
					results <- outcome{key, value, err}
					done.Add(1)
				}
			}()
		}
	}
	old := killLeaderAfter(t, c, &done, 6)
	wg.Wait()
	close(results)
	acked := map[string]string{}
	all := map[string]bool{}
	unknown := 0
	for r := range results {
		all[r.key] = true
		switch {
		case r.err == nil:
			acked[r.key] = r.value
		case errors.Is(r.err, raftfsm.ErrOutcomeUnknown):
			unknown++
		default:
			t.Errorf("%s: %v; want a result or an unknown outcome (the retry is Propose's)", r.key, r.err)
		}
	}
	if t.Failed() {
		return
	}
	if l := c.Leader(t); l == old {
		t.Fatalf("the killed node %s still leads", c.ID(old))
	}
	t.Logf("%d writes: %d acknowledged, %d unknown outcomes", len(all), len(acked), unknown)
	c.Restart(old)
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for i := range c.N() {
		s := c.Store(i)
		counts := map[string]int{}
		if err := s.Journal(1, func(e raftfsm.Entry) error {
			if e.Action == action {
				counts[e.Target]++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for key := range all {
			if counts[key] > 1 {
				t.Errorf("%s: %s applied %d times", c.ID(i), key, counts[key])
			}
		}
		for key, value := range acked {
			it, err := s.Get([]byte(key))
			if err != nil || string(it.Value) != value || counts[key] != 1 {
				t.Errorf("%s: acknowledged %s = %q, %v, applied %d times; want %q once", c.ID(i), key, it.Value, err, counts[key], value)
			}
		}
	}
}
