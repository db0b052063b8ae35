package rafttest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"valise/fault"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// requireValue fails unless node i holds value at key.
func requireValue(t *testing.T, c *rafttest.Cluster, i int, key, value string) {
	t.Helper()
	it, err := c.Store(i).Get([]byte(key))
	if err != nil || string(it.Value) != value {
		t.Fatalf("%s: %s = %q, %v; want %q", c.ID(i), key, it.Value, err, value)
	}
}

// TestElectReplicateFailover: three nodes elect, replicate, lose their leader, elect another,
// and lose no committed entry; the old leader rejoins and catches up.
func TestElectReplicateFailover(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	for i := range 10 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%02d", i), "v1"))
	}
	old := c.Leader(t)
	c.Kill(old)
	for i := 5; i < 15; i++ {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%02d", i), "v2"))
	}
	if l := c.Leader(t); l == old {
		t.Fatalf("the killed node %s still leads", c.ID(old))
	}
	c.Restart(old)
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for i := range c.N() {
		for k := range 15 {
			want := "v1"
			if k >= 5 {
				want = "v2"
			}
			requireValue(t, c, i, fmt.Sprintf("k/%02d", k), want)
		}
		// At least one entry per Put (ProposeLeader retries a Put whose outcome was unknown).
		if h, _ := c.Store(i).JournalHead(); h.Seq < 20 {
			t.Fatalf("%s: journal head at %d, want at least 20", c.ID(i), h.Seq)
		}
	}
}

// TestLeaderPartitioned: a leader cut off with one follower (2 of 5) can no longer write nor
// serve linearizable reads, nor can its follower; the majority elects a new leader and goes
// on; after Heal the minority converges and nothing it was asked to write exists anywhere.
func TestLeaderPartitioned(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []rafttest.Option
	}{
		{"inmem", nil},
		{"mtls", []rafttest.Option{rafttest.WithMTLS()}},
	} {
		t.Run(tc.name, func(t *testing.T) { testLeaderPartitioned(t, tc.opts...) })
	}
}

func testLeaderPartitioned(t *testing.T, opts ...rafttest.Option) {
	c := rafttest.NewCluster(t, 5, opts...)
	c.ProposeLeader(t, rafttest.Put("before", "1"))
	old := c.Leader(t)
	buddy := (old + 1) % c.N()
	c.RequireSameState(t) // the buddy knows the old leader
	c.Partition(old, buddy)

	_, err := c.Propose(ctxT(t, 2*time.Second), old, rafttest.Put("minority", "lost"))
	if err == nil {
		t.Fatal("the partitioned leader committed a write")
	}
	t.Logf("minority write refused: %v", err)
	for _, i := range []int{old, buddy} {
		err := c.Store(i).LinearizableRead(ctxT(t, 2*time.Second))
		if err == nil {
			t.Fatalf("%s served a linearizable read from the minority", c.ID(i))
		}
		if !errors.Is(err, raftfsm.ErrNotLeader) && !errors.Is(err, raftfsm.ErrNoLeader) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: linearizable read failed with an unexpected error: %v", c.ID(i), err)
		}
		if k := fault.KindOf(err); k != fault.Unavailable {
			t.Fatalf("%s: linearizable read refused with kind %v, want unavailable: %v", c.ID(i), k, err)
		}
		t.Logf("%s: minority read refused: %v", c.ID(i), err)
	}
	nl := c.Leader(t)
	if nl == old || nl == buddy {
		t.Fatalf("leader %s is in the minority", c.ID(nl))
	}
	c.ProposeLeader(t, rafttest.Put("after", "2"))
	// The old leader has stepped down by now (lease), so no two nodes lead in the same term.
	if st := c.Store(old).Status(); st.State.IsLeader() && st.Term >= c.Store(nl).Status().Term {
		t.Fatalf("split brain: %s leads in term %d", c.ID(old), st.Term)
	}
	c.Heal()
	c.ProposeLeader(t, rafttest.Put("healed", "3"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	for i := range c.N() {
		requireValue(t, c, i, "after", "2")
		if _, err := c.Store(i).Get([]byte("minority")); !errors.Is(err, raftfsm.ErrNotFound) {
			t.Fatalf("%s: the minority's write exists: %v", c.ID(i), err)
		}
		if err := c.Store(i).LinearizableRead(ctxT(t, 5*time.Second)); err != nil {
			t.Fatalf("%s: linearizable read after heal: %v", c.ID(i), err)
		}
	}
}

// TestAddNode: a node started on empty stores and added as a voter catches up, and then
// counts in the quorum.
func TestAddNode(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	for i := range 10 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%02d", i), "v"))
	}
	n := c.AddNode(t)
	c.ProposeLeader(t, rafttest.Put("added", "1"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	requireValue(t, c, n, "k/09", "v")
	requireValue(t, c, n, "added", "1")
	if m := c.Store(n).Status().Members; len(m) != 4 {
		t.Fatalf("members after AddNode: %v", m)
	}
	// With four voters, two down leave no quorum; the new node is one of the three left.
	c.Kill(c.Leader(t))
	c.ProposeLeader(t, rafttest.Put("after-kill", "1"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)
}

// TestForwarding (issue 18): with WithForwarding, a follower's Propose goes through the
// harness's forwarder to the leader and is applied on the follower before it returns.
func TestForwarding(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithForwarding())
	ctx := ctxT(t, time.Minute)
	for {
		f := c.Followers(t)[0]
		before := c.ForwardCalls(f)
		res, err := c.Store(f).Propose(ctx, rafttest.Put("fw/1", "v"))
		if (errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader)) && ctx.Err() == nil {
			continue // the leader changed under the proposal; nothing was proposed
		}
		if err != nil {
			t.Fatalf("propose on follower %s: %v", c.ID(f), err)
		}
		if c.ForwardCalls(f) == before {
			t.Fatalf("follower %s did not forward", c.ID(f))
		}
		if it, err := c.Store(f).Get([]byte("fw/1")); err != nil || it.Version != res.Index {
			t.Fatalf("follower %s after its write: %+v, %v; want version %d", c.ID(f), it, err, res.Index)
		}
		break
	}
	c.RequireSameState(t)
	c.RequireJournalValid(t)
}

// TestReadWithoutLeaderUnavailable: a follower that cannot reach a leader, whether it still
// names the dead or cut-off one or knows none, refuses a linearizable read with an error of the
// kind Unavailable, never an internal one: the front ends answer it 503 with Retry-After, so a
// client with a valid token retries instead of being told its token is bad (issue 18: a 401
// on every node while the cluster elected a new leader after kill -9).
func TestReadWithoutLeaderUnavailable(t *testing.T) {
	for _, tc := range rafttest.LeaderlessFaults() {
		t.Run(tc.Name, func(t *testing.T) {
			c := rafttest.NewCluster(t, 3)
			c.ProposeLeader(t, rafttest.Put("k", "v"))
			c.RequireSameState(t) // every follower names the leader
			leader := c.Leader(t)
			f := c.Followers(t)
			reader, other := f[0], f[1]
			tc.Apply(c, leader, reader, other)
			// At once (the dead leader still named) and on: every attempt fails, as not now.
			for range 3 {
				err := c.Store(reader).LinearizableRead(ctxT(t, 2*time.Second))
				if err == nil {
					t.Fatalf("%s served a linearizable read without a leader", c.ID(reader))
				}
				if k := fault.KindOf(err); k != fault.Unavailable || fault.CodeOf(err) != fault.UnavailableCode {
					t.Fatalf("read refused with kind %v, code %q, want unavailable: %v", k, fault.CodeOf(err), err)
				}
			}
		})
	}
}
