package raftnet_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/raftfsm"
	"valise/raftfsm/raftnet"
)

// progressSource answers read-index calls with 1 and progress calls with p.
type progressSource struct{ p raftfsm.Progress }

func (s progressSource) ReadIndex(context.Context) (uint64, error) { return 1, nil }
func (s progressSource) Progress() raftfsm.Progress                { return s.p }

// serveCalls answers calls on mux from src until the test ends.
func serveCalls(t *testing.T, mux *clusternet.Mux, src raftnet.ReadIndexSource) *raftnet.ReadIndexServer {
	t.Helper()
	srv, err := raftnet.NewReadIndexServer(mux, src, raftnet.DefaultServerConfig(), testLogger(t, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// TestProgressCall (issue 18): any node answers a progress call with its last log index and
// applied index, on a connection that goes on carrying calls; a node that serves no progress
// says so, and a node that is gone fails within the caller's deadline.
func TestProgressCall(t *testing.T) {
	ca := clustertest.NewCA(t)
	aMux := newMux(t, ca, "a", "127.0.0.2:0")
	bMux := newMux(t, ca, "b", "127.0.0.3:0")
	cMux := newMux(t, ca, "c", "127.0.0.4:0")
	want := raftfsm.Progress{LastIndex: 1<<63 + 9, Applied: 1<<40 + 3}
	srv := serveCalls(t, aMux, progressSource{want})
	serveCalls(t, cMux, sourceFunc(func(context.Context) (uint64, error) { return 1, nil }))
	client, err := raftnet.NewReadIndexClient(bMux, raftnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx := ctxT(t, time.Minute)
	a := raft.ServerAddress(aMux.Addr().String())
	for i := range 3 { // the pooled connection carries the next calls
		got, err := client.Progress(ctx, a)
		if err != nil || got != want {
			t.Fatalf("call %d: Progress = %+v, %v; want %+v", i, got, err, want)
		}
		if idx, err := client.ReadIndex(ctx, a); err != nil || idx != 1 {
			t.Fatalf("call %d: ReadIndex after Progress = %d, %v", i, idx, err)
		}
	}
	if _, err := client.Progress(ctx, raft.ServerAddress(cMux.Addr().String())); !errors.Is(err, raftnet.ErrCall) {
		t.Fatalf("Progress from a node without a progress source = %v, want ErrCall", err)
	}
	srv.Close()
	aMux.Close()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := client.Progress(short, a); err == nil {
		t.Fatal("Progress from a closed node succeeded")
	}
}
