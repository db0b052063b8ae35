package rafttest_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"valise/internal/poll"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// requireSuffrage waits until node i's configuration gives id the suffrage want ("" for
// absent).
func requireSuffrage(t *testing.T, c *rafttest.Cluster, i int, id, want string) {
	t.Helper()
	poll.UntilNil(t, fmt.Sprintf("%s sees %s as %q", c.ID(i), id, want), func() error {
		cfg, err := c.Store(i).Configuration()
		if err != nil {
			return err
		}
		m, _ := cfg.Member(id)
		if m.Suffrage != want {
			return fmt.Errorf("configuration: %+v", cfg.Members)
		}
		return nil
	})
}

// TestNonvoter (issue 18): a node started on empty stores and added as a non-voter catches up
// from the log without counting in the quorum; it is then promoted, a voter is demoted and
// removed, and every change is leader only and keeps the address of a member it only updates.
func TestNonvoter(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	for i := range 5 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%d", i), "v"))
	}
	n := c.StartNode(t)
	ctx := ctxT(t, time.Minute)
	l := c.Leader(t)
	if err := c.Store(c.Followers(t)[0]).AddNonvoter(ctx, c.ID(n), c.Addr(n)); !errors.Is(err, raftfsm.ErrNotLeader) {
		t.Fatalf("AddNonvoter on a follower = %v, want ErrNotLeader", err)
	}
	if err := c.Store(l).AddNonvoter(ctx, c.ID(n), c.Addr(n)); err != nil {
		t.Fatal(err)
	}
	requireSuffrage(t, c, l, c.ID(n), raftfsm.SuffrageNonvoter)
	c.RequireSameState(t)
	requireValue(t, c, n, "k/4", "v")
	if p, lp := c.Store(n).Progress(), c.Store(l).Progress(); p.Applied == 0 || p.LastIndex > lp.LastIndex {
		t.Fatalf("non-voter progress %+v, leader %+v", p, lp)
	}
	cfg, err := c.Store(l).Configuration()
	if err != nil || cfg.Voters() != 3 || len(cfg.Members) != 4 {
		t.Fatalf("configuration %+v, %v: want 3 voters and the non-voter", cfg, err)
	}

	// AddNonvoter on a voter only updates its address: it stays a voter.
	l = c.Leader(t)
	f := c.Followers(t)[0]
	if f == n {
		f = c.Followers(t)[1]
	}
	if err := c.Store(l).AddNonvoter(ctx, c.ID(f), c.Addr(f)); err != nil {
		t.Fatal(err)
	}
	requireSuffrage(t, c, l, c.ID(f), raftfsm.SuffrageVoter)

	// Promote the caught-up non-voter, then demote and remove a former voter.
	if err := c.Store(l).AddVoter(ctx, c.ID(n), c.Addr(n)); err != nil {
		t.Fatal(err)
	}
	requireSuffrage(t, c, n, c.ID(n), raftfsm.SuffrageVoter)
	l = c.Leader(t)
	if err := c.Store(l).DemoteVoter(ctx, c.ID(f)); err != nil {
		t.Fatal(err)
	}
	requireSuffrage(t, c, l, c.ID(f), raftfsm.SuffrageNonvoter)
	c.ProposeLeader(t, rafttest.Put("after-demote", "1"))
	l = c.Leader(t)
	if err := c.Store(l).RemoveServer(ctx, c.ID(f)); err != nil {
		t.Fatal(err)
	}
	requireSuffrage(t, c, l, c.ID(f), "")
	c.Kill(f) // out of the configuration: it no longer hears from the leader
	c.ProposeLeader(t, rafttest.Put("after-remove", "1"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)
	requireValue(t, c, n, "after-remove", "1")
}
