package raftnet_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet/clustertest"
	"valise/internal/poll"
	"valise/raftfsm"
	"valise/raftfsm/raftnet"
	"valise/raftfsm/rafttest"
)

// benchClients are the concurrency levels of docs/performance.md's metadata targets.
var benchClients = []int{1, 64}

// benchConfig is the node config of the benchmarks: LAN timeouts (no spurious elections
// under load), no snapshot during a run.
func benchConfig(cfg *raftfsm.Config) {
	d := raftfsm.DefaultConfig()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
	cfg.CommitTimeout = d.CommitTimeout
	cfg.SnapshotThreshold = 1 << 30
}

// BenchmarkCluster3MTLS: commits/s and latency of 256-byte batches on three real Stores (FSM,
// journal, Badger) over raftnet's mutual TLS on loopback, proposed on the leader and on a
// follower (forwarded to the leader over the propose call, issue 18), in the same run.
func BenchmarkCluster3MTLS(b *testing.B) {
	c := rafttest.NewCluster(b, 3, rafttest.WithMTLS(), rafttest.WithForwarding(), rafttest.WithConfig(benchConfig))
	value := make([]byte, 256)
	// Shrink the value until the encoded batch is 256 bytes.
	for n := 256; n > 0; n-- {
		enc, err := raftfsm.EncodeBatch(benchBatch(0, 0, value[:n]))
		if err != nil {
			b.Fatal(err)
		}
		if len(enc) <= 256 {
			value = value[:n]
			break
		}
	}
	var seq atomic.Uint64
	for _, on := range []string{"leader", "follower"} {
		pick := func() *raftfsm.Store {
			if on == "leader" {
				return c.Store(c.Leader(b))
			}
			return c.Store(c.Followers(b)[0])
		}
		var node atomic.Pointer[raftfsm.Store]
		node.Store(pick())
		for _, clients := range benchClients {
			b.Run(fmt.Sprintf("on=%s/clients=%d", on, clients), func(b *testing.B) {
				runLoad(b, clients, func(ctx context.Context, client int) error {
					for {
						n := node.Load()
						_, err := n.Propose(ctx, benchBatch(client, seq.Add(1), value))
						if !errors.Is(err, raftfsm.ErrNotLeader) && !errors.Is(err, raftfsm.ErrNoLeader) {
							return err
						}
						// An election under load: follow the roles (its latency counts).
						node.CompareAndSwap(n, pick())
					}
				})
			})
		}
	}
}

func benchBatch(client int, i uint64, value []byte) raftfsm.Batch {
	key := fmt.Sprintf("bench/%02d/%08d", client, i)
	return raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: value}},
		Audit: raftfsm.Audit{Time: time.Unix(1_800_000_000, 0).UTC(), Actor: "bench", Action: "bench.put", Target: key},
	}
}

// BenchmarkCluster3PlainNoopFSM is the baseline of BenchmarkCluster3MTLS: the same Raft log
// and stable store (raftfsm.LogStore on Badger), a no-op FSM, raft's plain TCP transport.
func BenchmarkCluster3PlainNoopFSM(b *testing.B) {
	benchNoopFSM(b, func(i int) raft.Transport {
		tr, err := raft.NewTCPTransport(fmt.Sprintf("127.0.0.%d:0", i+2), nil, 3, 10*time.Second, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		return tr
	})
}

// BenchmarkCluster3MTLSNoopFSM splits the difference between the two above: the no-op FSM
// over raftnet's mutual TLS, so the cost of the transport and of the FSM show apart.
func BenchmarkCluster3MTLSNoopFSM(b *testing.B) {
	ca := clustertest.NewCA(b)
	benchNoopFSM(b, func(i int) raft.Transport {
		mux := newMux(b, ca, fmt.Sprintf("n%d", i+1), fmt.Sprintf("127.0.0.%d:0", i+2))
		tr, err := raftnet.NewTransport(mux, raftnet.DefaultTransportConfig(), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		return tr
	})
}

func benchNoopFSM(b *testing.B, transport func(i int) raft.Transport) {
	logger := slog.New(slog.DiscardHandler)
	var rafts []*raft.Raft
	var servers []raft.Server
	var transports []raft.Transport
	for i := range 3 {
		tr := transport(i)
		transports = append(transports, tr)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(fmt.Sprintf("n%d", i+1)), Address: tr.LocalAddr()})
	}
	for i, tr := range transports {
		dir := b.TempDir()
		logs, err := raftfsm.OpenLogStore(filepath.Join(dir, "raft"), logger)
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		d := raftfsm.DefaultConfig()
		cfg := raft.DefaultConfig()
		cfg.LocalID = servers[i].ID
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
		cfg.CommitTimeout = d.CommitTimeout
		cfg.SnapshotThreshold = 1 << 30
		cfg.LogOutput = io.Discard
		r, err := raft.NewRaft(cfg, noopFSM{}, logs, logs, snaps, tr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			r.Shutdown().Error()
			logs.Close()
		})
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			b.Fatal(err)
		}
		rafts = append(rafts, r)
	}
	findLeader := func() *raft.Raft {
		var leader *raft.Raft
		poll.Until(b, "a leader", func() bool {
			for _, r := range rafts {
				if r.State() == raft.Leader {
					leader = r
					return true
				}
			}
			return false
		})
		return leader
	}
	var leader atomic.Pointer[raft.Raft]
	leader.Store(findLeader())
	cmd := make([]byte, 256)
	if _, err := rand.Read(cmd); err != nil {
		b.Fatal(err)
	}
	for _, clients := range benchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			runLoad(b, clients, func(ctx context.Context, _ int) error {
				for {
					l := leader.Load()
					err := l.Apply(cmd, 10*time.Second).Error()
					if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
						return err
					}
					leader.CompareAndSwap(l, findLeader())
				}
			})
		})
	}
}

type noopFSM struct{}

func (noopFSM) Apply(*raft.Log) any                 { return nil }
func (noopFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnapshot{}, nil }
func (noopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type noopSnapshot struct{}

func (noopSnapshot) Persist(sink raft.SnapshotSink) error { return sink.Close() }
func (noopSnapshot) Release()                             {}

// runLoad spreads b.N commits over clients goroutines and reports commits/s and the p50 and
// p99 commit latency.
func runLoad(b *testing.B, clients int, commit func(ctx context.Context, client int) error) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				if err := commit(ctx, c); err != nil {
					failed.Store(&err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatalf("commit: %v", *err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(float64(len(all))*p))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
