package raftnet_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet/clustertest"
	"valise/internal/poll"
	"valise/raftfsm/raftnet"
)

// TestTransportRawRaft runs three bare hashicorp/raft nodes (in-memory stores, raft's MockFSM)
// over the mTLS stream layer: the transport alone elects and replicates, and it advertises the
// configured address.
func TestTransportRawRaft(t *testing.T) {
	ca := clustertest.NewCA(t)
	type node struct {
		r   *raft.Raft
		fsm *raft.MockFSM
	}
	var nodes []node
	var servers []raft.Server
	var transports []*raftnet.Transport
	for i := range 3 {
		id := fmt.Sprintf("n%d", i+1)
		mux := newMux(t, ca, id, fmt.Sprintf("127.0.0.%d:0", i+2))
		tc := raftnet.DefaultTransportConfig()
		tc.Timeout = 2 * time.Second
		tr, err := raftnet.NewTransport(mux, tc, testLogger(t, slog.LevelWarn))
		if err != nil {
			t.Fatal(err)
		}
		if tr.LocalAddr() != raft.ServerAddress(mux.Addr().String()) {
			t.Fatalf("transport address %s, mux %s", tr.LocalAddr(), mux.Addr())
		}
		transports = append(transports, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: tr.LocalAddr()})
	}
	for i, tr := range transports {
		cfg := raft.DefaultConfig()
		cfg.LocalID = servers[i].ID
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.LogLevel = "warn"
		store := raft.NewInmemStore()
		fsm := &raft.MockFSM{}
		r, err := raft.NewRaft(cfg, fsm, store, store, raft.NewInmemSnapshotStore(), tr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Shutdown().Error() })
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node{r, fsm})
	}
	var leader *raft.Raft
	poll.Until(t, "a leader", func() bool {
		for _, n := range nodes {
			if n.r.State() == raft.Leader {
				leader = n.r
				return true
			}
		}
		return false
	})
	for i := range 20 {
		if err := leader.Apply(fmt.Appendf(nil, "cmd-%d", i), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	poll.Until(t, "every node to apply 20 commands", func() bool {
		for _, n := range nodes {
			if len(n.fsm.Logs()) != 20 {
				return false
			}
		}
		return true
	})
	// The advertised address, not the bound one, is what Raft sees.
	mux := newMux(t, ca, "n9", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(mux.Addr().String())
	adv := raft.ServerAddress(net.JoinHostPort("192.0.2.7", port))
	tc := raftnet.DefaultTransportConfig()
	tc.Advertise = adv
	tr, err := raftnet.NewTransport(mux, tc, testLogger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.LocalAddr() != adv {
		t.Fatalf("LocalAddr %s, want advertised %s", tr.LocalAddr(), adv)
	}
}

// TestHeartbeatFastPathOff: the transport never installs raft's heartbeat fast path
// (docs/dependencies.md, trap 2b).
func TestHeartbeatFastPathOff(t *testing.T) {
	ca := clustertest.NewCA(t)
	mux := newMux(t, ca, "n1", "127.0.0.1:0")
	tr, err := raftnet.NewTransport(mux, raftnet.DefaultTransportConfig(), testLogger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	called := make(chan struct{}, 1)
	tr.SetHeartbeatHandler(func(raft.RPC) { called <- struct{}{} })
	// Send a heartbeat-shaped AppendEntries to ourselves: it must arrive on the consumer
	// channel (raft's main loop), not in the handler.
	go func() {
		var resp raft.AppendEntriesResponse
		_ = tr.AppendEntries("n1", tr.LocalAddr(), &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("n1"), Addr: []byte(tr.LocalAddr())}, Term: 1,
		}, &resp)
	}()
	select {
	case rpc := <-tr.Consumer():
		rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: true}, nil)
	case <-called:
		t.Fatal("the heartbeat fast path ran")
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeat never arrived")
	}
}

// TestHCLogger: raft's hclog records reach the slog logger at the mapped level, named once.
func TestHCLogger(t *testing.T) {
	var buf bytes.Buffer
	l := raftnet.NewHCLoggerForTest(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft-net")
	for _, tc := range []struct {
		name string
		log  func()
		want string
	}{
		{"warn with args", func() { l.Named("pool").With("peer", "n2").Warn("dial failed", "err", "refused") },
			`level=WARN msg="dial failed" peer=n2 err=refused logger=raft-net.pool`},
		{"debug filtered", func() { l.Debug("chatty") }, ""},
		{"error", func() { l.Error("broken") }, `level=ERROR msg=broken logger=raft-net`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			tc.log()
			got := strings.TrimSpace(buf.String())
			if tc.want == "" && got != "" || !strings.HasSuffix(got, tc.want) {
				t.Fatalf("logged %q, want suffix %q", got, tc.want)
			}
		})
	}
	if !l.IsWarn() || l.IsDebug() {
		t.Fatalf("levels: warn %v debug %v", l.IsWarn(), l.IsDebug())
	}
}
