package raftnet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"valise/raftfsm/rafttest"
)

// TestClusterMTLS: three real Stores over raftnet and clusternet (TCP, mutual TLS, loopback
// aliases) elect, replicate, lose their leader, re-elect and lose no committed entry; a
// follower's linearizable read goes through the leader's read-index call and sees the last
// write.
func TestClusterMTLS(t *testing.T) {
	c := rafttest.NewCluster(t, 3, rafttest.WithMTLS())
	for i := range 10 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("k/%02d", i), "v1"))
	}
	f := c.Followers(t)[0]
	before := c.ReadIndexCalls(f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Store(f).LinearizableRead(ctx); err != nil {
		t.Fatalf("follower %s: linearizable read: %v", c.ID(f), err)
	}
	if c.ReadIndexCalls(f) == before {
		t.Fatalf("follower %s served a linearizable read without asking the leader", c.ID(f))
	}
	if it, err := c.Store(f).Get([]byte("k/09")); err != nil || string(it.Value) != "v1" {
		t.Fatalf("follower %s after a linearizable read: k/09 = %q, %v", c.ID(f), it.Value, err)
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
			it, err := c.Store(i).Get(fmt.Appendf(nil, "k/%02d", k))
			if err != nil || string(it.Value) != want {
				t.Fatalf("%s: k/%02d = %q, %v; want %q", c.ID(i), k, it.Value, err, want)
			}
		}
	}
}
