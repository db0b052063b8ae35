package rafttest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// TestSnapshotRejoin: with a low threshold the leader snapshots and truncates its log; a node
// that was down the whole time can only catch up from a snapshot, and then holds the same
// state and journal as everyone.
func TestSnapshotRejoin(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithConfig(func(cfg *raftfsm.Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	}))
	c.ProposeLeader(t, rafttest.Put("first", "1"))
	c.RequireSameState(t)
	lagger := c.Followers(t)[0]
	laggerApplied, _, err := c.Store(lagger).StateHash()
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(lagger)
	for i := range 60 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%02d", i), strconv.Itoa(i)))
	}
	for i := range c.N() {
		if s := c.Store(i); s != nil {
			if err := s.Snapshot(); err != nil {
				t.Fatalf("%s: snapshot: %v", c.ID(i), err)
			}
		}
	}
	leader := c.Leader(t)
	c.Restart(lagger)
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for k := range 60 {
		it, err := c.Store(lagger).Get(fmt.Appendf(nil, "k/%02d", k))
		if err != nil || string(it.Value) != strconv.Itoa(k) {
			t.Fatalf("rejoined %s: k/%02d = %q, %v", c.ID(lagger), k, it.Value, err)
		}
	}
	// The leader's log really was truncated past what the lagger had: it caught up from the
	// snapshot, not from the log.
	c.Kill(leader)
	logs, err := raftfsm.OpenLogStore(filepath.Join(c.Dir(leader), "raft"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first, err := logs.FirstIndex()
	logs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if first <= laggerApplied+1 {
		t.Fatalf("leader's log starts at %d: not truncated past the lagger's %d", first, laggerApplied)
	}
	c.Restart(leader)
	c.ProposeLeader(t, rafttest.Put("last", "1"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)
}

// TestKillRestartAppliesOnce: a counter advanced by compare-and-set through kills of a
// follower, of the leader, a snapshot, and a restart of the whole cluster (which replays the
// log after the last snapshot into FSMs that already hold it) ends at exactly the number of
// increments, with one journal entry each, on every node.
func TestKillRestartAppliesOnce(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithConfig(func(cfg *raftfsm.Config) {
		cfg.SnapshotThreshold = 1 << 20 // snapshots only when the test asks
		cfg.TrailingLogs = 2
	}))
	const total = 40
	// increment sets the counter from n-1 to n by compare-and-set on the leader's local
	// version. A new leader's local state may lag (it applies earlier terms' entries only once
	// its first entry commits): then the CAS conflicts and is retried. An attempt of unknown
	// outcome is retried too: if it applied, the retry sees n or conflicts. Never may the
	// counter be seen past n: that would be an increment applied twice.
	increment := func(n int) {
		t.Helper()
		deadline := time.Now().Add(rafttest.WaitTimeout)
		for time.Now().Before(deadline) {
			l := c.Leader(t)
			b := raftfsm.Batch{
				Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte("ctr"), Value: []byte(strconv.Itoa(n))}},
				Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "rafttest", Action: "test.increment", Target: "ctr"},
			}
			if it, err := c.Store(l).Get([]byte("ctr")); err == nil {
				switch v, _ := strconv.Atoi(string(it.Value)); {
				case v == n:
					return // an attempt whose outcome was unknown did apply
				case v > n:
					t.Fatalf("counter at %q before increment %d: applied twice", it.Value, n)
				}
				b.Conds = []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: []byte("ctr"), Version: it.Version}}
			} else {
				b.Conds = []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte("ctr")}}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.Propose(ctx, l, b)
			cancel()
			switch {
			case err == nil:
				return
			case errors.Is(err, raftfsm.ErrConflict):
				continue // a stale local read on a new leader
			case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrOutcomeUnknown), errors.Is(err, context.DeadlineExceeded):
				continue // retry on the leader; the CAS makes a retry of an applied attempt conflict
			}
			t.Fatalf("increment %d: %v", n, err)
		}
		t.Fatalf("increment %d: no success before the deadline", n)
	}
	n := 0
	step := func(k int) {
		for range k {
			n++
			increment(n)
		}
	}
	step(10)
	f := c.Followers(t)[0]
	c.Kill(f)
	step(5)
	c.Restart(f)
	step(5)
	for i := range c.N() {
		if err := c.Store(i).Snapshot(); err != nil {
			t.Fatalf("%s: snapshot: %v", c.ID(i), err)
		}
	}
	step(5)
	l := c.Leader(t)
	c.Kill(l)
	step(5)
	c.Restart(l)
	step(5)
	c.RequireSameState(t)
	for i := range c.N() {
		c.Kill(i)
	}
	for i := range c.N() {
		c.Restart(i)
	}
	step(total - n)
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for i := range c.N() {
		it, err := c.Store(i).Get([]byte("ctr"))
		if err != nil || string(it.Value) != strconv.Itoa(total) {
			t.Fatalf("%s: counter %q, %v; want %d", c.ID(i), it.Value, err, total)
		}
		if h, _ := c.Store(i).JournalHead(); h.Seq != total {
			t.Fatalf("%s: %d journal entries, want %d", c.ID(i), h.Seq, total)
		}
	}
}
