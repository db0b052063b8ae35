package raftnet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet/clustertest"
	"valise/raftfsm"
	"valise/raftfsm/raftnet"
)

// sourceFunc is a ReadIndexSource answering with a function: the protocol tests need exact
// answers (a real Store's come in the cluster tests).
type sourceFunc func(ctx context.Context) (uint64, error)

func (f sourceFunc) ReadIndex(ctx context.Context) (uint64, error) { return f(ctx) }

func TestReadIndexCall(t *testing.T) {
	ca := clustertest.NewCA(t)
	leaderMux := newMux(t, ca, "leader", "127.0.0.2:0")
	followerMux := newMux(t, ca, "follower", "127.0.0.3:0")
	var answer atomic.Pointer[sourceFunc]
	srv, err := raftnet.NewReadIndexServer(leaderMux, sourceFunc(func(ctx context.Context) (uint64, error) {
		return (*answer.Load())(ctx)
	}), raftnet.DefaultServerConfig(), testLogger(t, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := raftnet.NewReadIndexClient(followerMux, raftnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	addr := raft.ServerAddress(leaderMux.Addr().String())

	for _, tc := range []struct {
		name    string
		answer  sourceFunc
		timeout time.Duration
		want    uint64
		wantErr error
	}{
		{"index", func(context.Context) (uint64, error) { return 42, nil }, time.Second, 42, nil},
		{"large index", func(context.Context) (uint64, error) { return 1<<63 + 7, nil }, time.Second, 1<<63 + 7, nil},
		{"not leader", func(context.Context) (uint64, error) { return 0, raftfsm.ErrNotLeader }, time.Second, 0, raftfsm.ErrNotLeader},
		{"raft not leader", func(context.Context) (uint64, error) { return 0, raft.ErrNotLeader }, time.Second, 0, raftfsm.ErrNotLeader},
		{"other failure", func(context.Context) (uint64, error) { return 0, errors.New("disk on fire") }, time.Second, 0, raftnet.ErrCall},
		{"leader too slow", func(ctx context.Context) (uint64, error) { <-ctx.Done(); return 0, ctx.Err() }, 200 * time.Millisecond, 0, context.DeadlineExceeded},
		{"index after a timeout", func(context.Context) (uint64, error) { return 7, nil }, time.Second, 7, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer.Store(&tc.answer)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			got, err := client.ReadIndex(ctx, addr)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadIndex error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadIndex = %d, %v; want %d", got, err, tc.want)
			}
		})
	}

	t.Run("server closed", func(t *testing.T) {
		srv.Close()
		if _, err := client.ReadIndex(ctxT(t, 5*time.Second), addr); err == nil {
			t.Fatal("ReadIndex succeeded against a closed server")
		}
	})
}

// FuzzReadReply: whatever a peer sends back, the client returns an index or an error, never
// panics, and never allocates more than the protocol's bound.
func FuzzReadReply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{1, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{2, 0xff, 0xff})
	f.Add([]byte{9})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := raftnet.ReadReplyForTest(bytes.NewReader(data))
		if err == nil {
			if len(data) < 9 || data[0] != 0 || idx != binary.BigEndian.Uint64(data[1:9]) {
				t.Fatalf("reply %x decoded as %d", data, idx)
			}
		}
	})
}
