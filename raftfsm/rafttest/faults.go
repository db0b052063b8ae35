package rafttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"valise/raftfsm"
)

// ErrCut is returned by the fault layer for a call between two nodes the harness has cut
// apart (a partition, or a killed node).
var ErrCut = errors.New("rafttest: link cut by the harness")

// network is the fault model every transport of a cluster goes through: which node is in which
// partition group, and which nodes are down. Nodes talk only when both are up and in the same
// group.
type network struct {
	mu     sync.RWMutex      // guards the fields below
	group  map[string]int    // node ID → partition group; absent means 0
	down   map[string]bool   // killed nodes
	byAddr map[string]string // raft address → node ID
}

func newNetwork() *network {
	return &network{group: map[string]int{}, down: map[string]bool{}, byAddr: map[string]string{}}
}

func (n *network) register(id string, addr raft.ServerAddress) {
	n.mu.Lock()
	n.byAddr[string(addr)] = id
	n.mu.Unlock()
}

// linked reports whether node from can reach the node at address to.
func (n *network) linked(from string, to raft.ServerAddress) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	id, ok := n.byAddr[string(to)]
	if !ok {
		return false
	}
	return !n.down[from] && !n.down[id] && n.group[from] == n.group[id]
}

func (n *network) check(from string, to raft.ServerAddress) error {
	if !n.linked(from, to) {
		return fmt.Errorf("%s → %s: %w", from, to, ErrCut)
	}
	return nil
}

// partition puts ids in a group of their own, cut from every other node.
func (n *network) partition(ids []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	next := 1
	for _, g := range n.group {
		next = max(next, g+1)
	}
	for _, id := range ids {
		n.group[id] = next
	}
}

func (n *network) heal() {
	n.mu.Lock()
	clear(n.group)
	n.mu.Unlock()
}

func (n *network) setDown(id string, down bool) {
	n.mu.Lock()
	n.down[id] = down
	n.mu.Unlock()
}

func (n *network) groupOf(id string) int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.group[id]
}

// faultTransport wraps a node's raft.Transport: every outgoing RPC first asks the network
// whether the link is up. Since links are symmetric, this cuts both directions. Its
// SetHeartbeatHandler is a no-op, like raftnet's (docs/dependencies.md, trap 2b).
type faultTransport struct {
	inner raft.Transport
	self  string
	net   *network
}

var (
	_ raft.Transport   = (*faultTransport)(nil)
	_ raft.WithClose   = (*faultTransport)(nil)
	_ raft.WithPreVote = (*faultTransport)(nil)
)

func (f *faultTransport) Consumer() <-chan raft.RPC          { return f.inner.Consumer() }
func (f *faultTransport) LocalAddr() raft.ServerAddress      { return f.inner.LocalAddr() }
func (f *faultTransport) SetHeartbeatHandler(func(raft.RPC)) {}
func (f *faultTransport) EncodePeer(id raft.ServerID, a raft.ServerAddress) []byte {
	return f.inner.EncodePeer(id, a)
}
func (f *faultTransport) DecodePeer(b []byte) raft.ServerAddress { return f.inner.DecodePeer(b) }

func (f *faultTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if err := f.net.check(f.self, target); err != nil {
		return nil, err
	}
	p, err := f.inner.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &faultPipeline{AppendPipeline: p, t: f, target: target}, nil
}

func (f *faultTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if err := f.net.check(f.self, target); err != nil {
		return err
	}
	return f.inner.AppendEntries(id, target, args, resp)
}

func (f *faultTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if err := f.net.check(f.self, target); err != nil {
		return err
	}
	return f.inner.RequestVote(id, target, args, resp)
}

func (f *faultTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if err := f.net.check(f.self, target); err != nil {
		return err
	}
	pv, ok := f.inner.(raft.WithPreVote)
	if !ok {
		return errors.New("rafttest: transport has no pre-vote")
	}
	return pv.RequestPreVote(id, target, args, resp)
}

func (f *faultTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if err := f.net.check(f.self, target); err != nil {
		return err
	}
	return f.inner.InstallSnapshot(id, target, args, resp, data)
}

func (f *faultTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if err := f.net.check(f.self, target); err != nil {
		return err
	}
	return f.inner.TimeoutNow(id, target, args, resp)
}

func (f *faultTransport) Close() error {
	if c, ok := f.inner.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// faultPipeline checks the link before each pipelined AppendEntries.
type faultPipeline struct {
	raft.AppendPipeline
	t      *faultTransport
	target raft.ServerAddress
}

func (p *faultPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if err := p.t.net.check(p.t.self, p.target); err != nil {
		return nil, err
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

// faultReadIndexer puts a follower's read-index calls behind the same network.
type faultReadIndexer struct {
	inner raftfsm.ReadIndexer
	self  string
	net   *network
	calls *atomic.Uint64 // the node's read-index calls, for Cluster.ReadIndexCalls
}

func (f *faultReadIndexer) ReadIndex(ctx context.Context, leader raft.ServerAddress) (uint64, error) {
	f.calls.Add(1)
	if err := f.net.check(f.self, leader); err != nil {
		return 0, err
	}
	return f.inner.ReadIndex(ctx, leader)
}

// inmemReadIndexer answers read-index calls in process, from the store at the leader's address.
type inmemReadIndexer struct{ c *Cluster }

func (r inmemReadIndexer) ReadIndex(ctx context.Context, leader raft.ServerAddress) (uint64, error) {
	s := r.c.storeAt(leader)
	if s == nil {
		return 0, fmt.Errorf("read index from %s: node down: %w", leader, ErrCut)
	}
	return s.ReadIndex(ctx)
}

// faultForwarder puts a follower's forwarded proposals behind the same network.
type faultForwarder struct {
	inner raftfsm.Forwarder
	self  string
	net   *network
	calls *atomic.Uint64 // the node's forwarded batches, for Cluster.ForwardCalls
}

func (f *faultForwarder) Forward(ctx context.Context, leader raft.ServerAddress, batch []byte) (raftfsm.Result, error) {
	f.calls.Add(1)
	if err := f.net.check(f.self, leader); err != nil {
		return raftfsm.Result{}, fmt.Errorf("forward to %s: %w: %w", leader, raftfsm.ErrNoLeader, err)
	}
	return f.inner.Forward(ctx, leader, batch)
}

// inmemForwarder proposes forwarded batches in process, on the store at the leader's address.
type inmemForwarder struct{ c *Cluster }

func (r inmemForwarder) Forward(ctx context.Context, leader raft.ServerAddress, batch []byte) (raftfsm.Result, error) {
	s := r.c.storeAt(leader)
	if s == nil {
		return raftfsm.Result{}, fmt.Errorf("forward to %s: node down: %w: %w", leader, raftfsm.ErrNoLeader, ErrCut)
	}
	b, err := raftfsm.DecodeBatch(batch)
	if err != nil {
		return raftfsm.Result{}, fmt.Errorf("%w: %w", raftfsm.ErrInvalidBatch, err)
	}
	return s.ProposeLocal(ctx, b)
}
