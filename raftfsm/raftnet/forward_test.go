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

// source answers both calls with functions: the protocol tests need exact answers (a real
// Store's come in the cluster tests).
type source struct {
	propose atomic.Pointer[func(context.Context, raftfsm.Batch) (raftfsm.Result, error)]
	calls   atomic.Uint64
}

func (s *source) ReadIndex(context.Context) (uint64, error) { return 1, nil }

func (s *source) ProposeLocal(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	s.calls.Add(1)
	return (*s.propose.Load())(ctx, b)
}

func (s *source) answer(fn func(context.Context, raftfsm.Batch) (raftfsm.Result, error)) {
	s.propose.Store(&fn)
}

func encoded(t testing.TB, b raftfsm.Batch) []byte {
	t.Helper()
	data, err := raftfsm.EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func putBatch(key, value string) raftfsm.Batch {
	return raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: []byte(value)}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.put", Target: key},
	}
}

// TestForwardCall (issue 18, any node takes any request): the propose call brings the leader's
// answer back as its Propose gives it — the result, a conflict with its details, "not the
// leader" to retry, an invalid batch, an unknown outcome with its reason — and keeps the
// connection for the next call.
func TestForwardCall(t *testing.T) {
	ca := clustertest.NewCA(t)
	leaderMux := newMux(t, ca, "leader", "127.0.0.2:0")
	followerMux := newMux(t, ca, "follower", "127.0.0.3:0")
	src := &source{}
	srv, err := raftnet.NewReadIndexServer(leaderMux, src, raftnet.DefaultServerConfig(), testLogger(t, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := raftnet.NewReadIndexClient(followerMux, raftnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	addr := raft.ServerAddress(leaderMux.Addr().String())
	conflict := &raftfsm.ConflictError{Cond: raftfsm.Cond{Kind: raftfsm.CondVersion, Key: []byte("k/\x00\xff"), Version: 7}, Version: 9}

	for _, tc := range []struct {
		name    string
		answer  func(context.Context, raftfsm.Batch) (raftfsm.Result, error)
		timeout time.Duration
		want    raftfsm.Result
		wantErr []error
	}{
		{"result", func(_ context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
			if string(b.Ops[0].Key) != "k/a" || string(b.Ops[0].Value) != "v" {
				return raftfsm.Result{}, errors.New("batch garbled")
			}
			return raftfsm.Result{Index: 1<<63 + 5, JournalSeq: 42}, nil
		}, time.Second, raftfsm.Result{Index: 1<<63 + 5, JournalSeq: 42}, nil},
		{"conflict", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) { return raftfsm.Result{}, conflict }, time.Second, raftfsm.Result{}, []error{raftfsm.ErrConflict}},
		{"not leader", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, raftfsm.ErrNotLeader
		}, time.Second, raftfsm.Result{}, []error{raftfsm.ErrNotLeader}},
		{"leader closing", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, raftfsm.ErrClosed
		}, time.Second, raftfsm.Result{}, []error{raftfsm.ErrNotLeader}},
		{"invalid", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, raftfsm.ErrInvalidBatch
		}, time.Second, raftfsm.Result{}, []error{raftfsm.ErrInvalidBatch}},
		{"leadership lost in flight", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, errors.Join(raftfsm.ErrOutcomeUnknown, raftfsm.ErrNotLeader)
		}, time.Second, raftfsm.Result{}, []error{raftfsm.ErrOutcomeUnknown, raftfsm.ErrNotLeader}},
		{"leader's deadline", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, errors.Join(raftfsm.ErrOutcomeUnknown, context.DeadlineExceeded)
		}, time.Second, raftfsm.Result{}, []error{raftfsm.ErrOutcomeUnknown, context.DeadlineExceeded}},
		{"other failure", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{}, errors.New("disk on fire")
		}, time.Second, raftfsm.Result{}, []error{raftnet.ErrCall}},
		{"leader too slow", func(ctx context.Context, _ raftfsm.Batch) (raftfsm.Result, error) {
			<-ctx.Done() // the caller's budget travels with the call
			return raftfsm.Result{}, errors.Join(raftfsm.ErrOutcomeUnknown, ctx.Err())
		}, 300 * time.Millisecond, raftfsm.Result{}, []error{raftfsm.ErrOutcomeUnknown, context.DeadlineExceeded}},
		{"result after a timeout", func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
			return raftfsm.Result{Index: 3, JournalSeq: 1}, nil
		}, time.Second, raftfsm.Result{Index: 3, JournalSeq: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.answer(tc.answer)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			got, err := client.Forward(ctx, addr, encoded(t, putBatch("k/a", "v")))
			for _, want := range tc.wantErr {
				if !errors.Is(err, want) {
					t.Fatalf("Forward error %v, want one wrapping %v", err, want)
				}
			}
			if tc.wantErr == nil && (err != nil || got != tc.want) {
				t.Fatalf("Forward = %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.name == "conflict" {
				var ce *raftfsm.ConflictError
				if !errors.As(err, &ce) || ce.Cond.Kind != conflict.Cond.Kind || !bytes.Equal(ce.Cond.Key, conflict.Cond.Key) ||
					ce.Cond.Version != conflict.Cond.Version || ce.Version != conflict.Version {
					t.Fatalf("conflict came back as %#v, want %#v", err, conflict)
				}
			}
		})
	}

	t.Run("oversized batch refused before sending", func(t *testing.T) {
		before := src.calls.Load()
		_, err := client.Forward(ctxT(t, 5*time.Second), addr, make([]byte, raftfsm.MaxBatchSize+1))
		if !errors.Is(err, raftfsm.ErrInvalidBatch) {
			t.Fatalf("Forward of %d bytes: %v, want ErrInvalidBatch", raftfsm.MaxBatchSize+1, err)
		}
		if src.calls.Load() != before {
			t.Fatal("an oversized batch reached the leader")
		}
	})
}

// TestForwardLeaderGone (issue 18): a leader that stops while it holds a forwarded batch gives
// the caller an unknown outcome, retriable, never a result; a pooled connection the leader
// closed before the call is replaced without making the outcome unknown; an unreachable
// leader gives ErrNoLeader, nothing sent.
func TestForwardLeaderGone(t *testing.T) {
	ca := clustertest.NewCA(t)
	leaderMux := newMux(t, ca, "leader", "127.0.0.2:0")
	followerMux := newMux(t, ca, "follower", "127.0.0.3:0")
	addr := raft.ServerAddress(leaderMux.Addr().String())
	client, err := raftnet.NewReadIndexClient(followerMux, raftnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	start := func(src *source) *raftnet.ReadIndexServer {
		srv, err := raftnet.NewReadIndexServer(leaderMux, src, raftnet.DefaultServerConfig(), testLogger(t, slog.LevelInfo))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	ok := func(context.Context, raftfsm.Batch) (raftfsm.Result, error) {
		return raftfsm.Result{Index: 1, JournalSeq: 1}, nil
	}

	// A pooled connection, then the server restarts (closing it).
	src := &source{}
	src.answer(ok)
	srv := start(src)
	if _, err := client.Forward(ctxT(t, 5*time.Second), addr, encoded(t, putBatch("k", "v"))); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	src2 := &source{}
	holding := make(chan struct{})
	src2.answer(func(ctx context.Context, _ raftfsm.Batch) (raftfsm.Result, error) {
		close(holding)
		<-ctx.Done() // cancelled by the server's Close
		return raftfsm.Result{}, errors.Join(raftfsm.ErrOutcomeUnknown, raftfsm.ErrClosed)
	})
	srv2 := start(src2)

	done := make(chan error, 1)
	go func() {
		_, err := client.Forward(ctxT(t, 30*time.Second), addr, encoded(t, putBatch("k", "v")))
		done <- err
	}()
	select {
	case <-holding: // the stale pooled connection was replaced, and the batch arrived
	case err := <-done:
		t.Fatalf("Forward returned before the leader held the batch: %v", err)
	}
	srv2.Close()
	err = <-done
	if !errors.Is(err, raftfsm.ErrOutcomeUnknown) {
		t.Fatalf("leader stopped during the call: %v, want ErrOutcomeUnknown", err)
	}
	if !errors.Is(err, raftfsm.ErrNotLeader) && !errors.Is(err, raftfsm.ErrNoLeader) {
		t.Fatalf("leader stopped during the call: %v, want it retriable (ErrNotLeader or ErrNoLeader)", err)
	}

	// Nobody listening for calls any more: unreachable, nothing sent.
	_, err = client.Forward(ctxT(t, 5*time.Second), addr, encoded(t, putBatch("k", "v")))
	if !errors.Is(err, raftfsm.ErrNoLeader) || errors.Is(err, raftfsm.ErrOutcomeUnknown) {
		t.Fatalf("Forward to a node without a call server: %v, want ErrNoLeader and not an unknown outcome", err)
	}
}

// FuzzProposeRequest: whatever a peer sends as a propose request, the leader decodes a valid
// batch or returns an error, never panics, and never reads past the declared length.
func FuzzProposeRequest(f *testing.F) {
	good := encodedF(f, putBatch("k/a", "v"))
	req := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1000), uint32(len(good)))
	f.Add(append(req, good...))
	f.Add(append(req, good[:len(good)-1]...))
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		_, b, err := raftnet.ReadProposeRequestForTest(r)
		if err != nil {
			return
		}
		n := binary.BigEndian.Uint32(data[4:8])
		if consumed := len(data) - r.Len(); consumed != 8+int(n) {
			t.Fatalf("read %d bytes of a request declaring %d", consumed, 8+n)
		}
		if _, err := raftfsm.EncodeBatch(b); err != nil && !errors.Is(err, raftfsm.ErrInvalidBatch) {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
	})
}

func encodedF(f *testing.F, b raftfsm.Batch) []byte {
	data, err := raftfsm.EncodeBatch(b)
	if err != nil {
		f.Fatal(err)
	}
	return data
}
