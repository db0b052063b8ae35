package raftfsm_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/poll"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// TestBackupFromClusterFollower: a snapshot taken on a follower of a 3-node cluster starts a
// one-node cluster with the same state at the same index, which takes new writes after it.
func TestBackupFromClusterFollower(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	for i := range 30 {
		c.ProposeLeader(t, rafttest.Put(fmt.Sprintf("user/%02d", i), fmt.Sprintf("v%d", i)))
	}
	c.RequireSameState(t)
	f := c.Followers(t)[0]
	src := c.Store(f)
	sn, err := src.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	info := sn.Info()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Close()
	applied, hash, err := src.StateHash()
	if err != nil || applied != info.Index {
		t.Fatalf("follower moved on meanwhile (%d, %v), snapshot at %d", applied, err, info.Index)
	}
	if info.Head.Seq != 30 || info.Term == 0 || sn.EstimatedSize() < 0 {
		t.Fatalf("info %+v", info)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	addr, trans := raft.NewInmemTransport("")
	if err := raftfsm.InstallSnapshot(dir, info, "solo", string(addr), &buf); err != nil {
		t.Fatal(err)
	}
	cfg := rafttest.TestConfig()
	cfg.NodeID, cfg.Dir = "solo", dir
	s, err := raftfsm.Open(cfg, raftfsm.Deps{Transport: trans, Logger: rafttest.TestLogger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	poll.Until(t, "the restored node leads", func() bool { return s.Status().State.IsLeader() })
	if a, h, err := s.StateHash(); err != nil || a != info.Index || h != hash {
		t.Fatalf("restored at %d (%v), same hash %v", a, err, h == hash)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.Propose(ctx, rafttest.Put("after", "x"))
	if err != nil || res.Index <= info.Index || res.JournalSeq != 31 {
		t.Fatalf("propose: %+v, %v", res, err)
	}
	if _, err := s.VerifyJournal(ctx); err != nil {
		t.Fatal(err)
	}
}
