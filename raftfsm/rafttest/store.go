package rafttest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/raftfsm"
)

// NewStore starts a one-node raftfsm.Store in t.TempDir on raft's in-memory transport, for
// the tests of domain packages that need real metadata but no cluster. It returns once the
// node leads and a first linearizable read has passed; the store closes with the test. Its
// timeouts are shorter than TestConfig's: a single node has no follower to depose it.
func NewStore(t testing.TB) *raftfsm.Store {
	t.Helper()
	cfg := raftfsm.DefaultConfig()
	cfg.NodeID = "n1"
	cfg.Dir = t.TempDir()
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	addr, trans := raft.NewInmemTransport("")
	st, err := raftfsm.Open(cfg, raftfsm.Deps{Transport: trans, Logger: TestLogger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("open raftfsm: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close raftfsm: %v", err)
		}
		trans.Close()
	})
	if err := st.BootstrapSelf(addr); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := st.WaitLeader(ctx); err != nil {
		t.Fatalf("wait leader: %v", err)
	}
	if err := st.LinearizableRead(ctx); err != nil {
		t.Fatalf("first linearizable read: %v", err)
	}
	return st
}
