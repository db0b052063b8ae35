// Package rafttest is an in-process Raft cluster harness for tests of raftfsm and of what is
// built on it. Its verbs are the fault model: NewCluster starts n real Stores (Badger in
// t.TempDir, real FSM and journal) behind a fault layer the harness controls; Partition, Heal,
// Kill and Restart inject faults; Leader waits for a stable leader; RequireSameState and
// RequireJournalValid check the invariants every cluster test ends with.
//
// The transport is raft's InmemTransport by default (fast), or the real one — raftnet over
// clusternet's mutual TLS on loopback aliases 127.0.0.2, 127.0.0.3, … — with WithMTLS. In
// both, every Raft RPC and read-index call first asks the fault layer whether the link is up,
// so a partition cuts both directions at once and a killed node is unreachable.
//
// Every wait polls a condition with a deadline; nothing sleeps to wait.
package rafttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/poll"
	"valise/internal/testlog"
	"valise/raftfsm"
	"valise/raftfsm/raftnet"
)

// closeTimeout bounds a store's Close in Kill and cleanup.
const closeTimeout = 30 * time.Second

// WaitTimeout bounds every wait of the harness (a leader, the same state).
const WaitTimeout = 20 * time.Second

// Option changes how NewCluster builds the cluster.
type Option func(*options)

type options struct {
	mtls      bool
	forward   bool
	configure func(*raftfsm.Config)
	level     slog.Level
}

// WithMTLS runs Raft and the read-index calls over raftnet and clusternet: real TCP with
// mutual TLS on 127.0.0.2, 127.0.0.3, …, with a throw-away cluster CA.
func WithMTLS() Option { return func(o *options) { o.mtls = true } }

// WithForwarding gives every store a Forwarder (raftfsm.Deps.Forward), so that Propose on a
// follower is forwarded to the leader: over raftnet's propose call WithMTLS, in process
// otherwise. Forwarded calls go through the fault layer like read-index calls.
func WithForwarding() Option { return func(o *options) { o.forward = true } }

// WithConfig lets a test change each node's raftfsm.Config after the harness's fast
// defaults (NodeID and Dir are set after it and cannot be changed).
func WithConfig(fn func(*raftfsm.Config)) Option { return func(o *options) { o.configure = fn } }

// WithLogLevel sets the level of the logs routed to the test's output (default Warn).
func WithLogLevel(l slog.Level) Option { return func(o *options) { o.level = l } }

// TestConfig returns the harness's node settings: timeouts short enough for fast tests, long
// enough that a loaded 2-core machine under -race (Badger fsyncs stalling a follower for tens
// of milliseconds) does not depose leaders all the time, as 50 ms did.
func TestConfig() raftfsm.Config {
	cfg := raftfsm.DefaultConfig()
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	return cfg
}

// Cluster is a running test cluster. Its methods may be called from several goroutines, but
// fault verbs (Partition, Heal, Kill, Restart) are meant to come from one controller.
type Cluster struct {
	t      testing.TB
	opts   options
	net    *network
	logger *slog.Logger
	ca     *clustertest.CA // WithMTLS only
	base   string          // the nodes' directories are under it

	mu sync.Mutex // guards nodes (replaced, never changed in place, by AddNode) and the node fields marked
	// nodes are the members in order; read it through list.
	nodes []*node
}

// node is one member. Fields other than those marked are fixed at NewCluster.
type node struct {
	id   string
	dir  string
	addr raft.ServerAddress
	mux  *clusternet.Mux // WithMTLS only
	// readIndexCalls counts the node's read-index calls to a leader, across restarts.
	readIndexCalls atomic.Uint64
	// forwardCalls counts the node's batches forwarded to a leader, across restarts.
	forwardCalls atomic.Uint64

	// guarded by Cluster.mu:
	store  *raftfsm.Store // nil while down
	inmem  *raft.InmemTransport
	trans  raft.Transport
	srv    *raftnet.ReadIndexServer
	client *raftnet.ReadIndexClient
}

// NewCluster starts n nodes, bootstraps them as one cluster and returns once every node is
// up (not once a leader is elected: call Leader). Everything is closed by t.Cleanup.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	o := options{level: slog.LevelWarn}
	for _, fn := range opts {
		fn(&o)
	}
	c := &Cluster{t: t, opts: o, net: newNetwork(), logger: TestLogger(t, o.level)}
	if o.mtls {
		c.ca = clustertest.NewCA(t)
	}
	c.base = t.TempDir() // before c.close is registered, so it is removed after the stores close
	t.Cleanup(c.close)
	var servers []raft.Server
	for i := range n {
		nd := c.newNode(i)
		c.nodes = append(c.nodes, nd) // no reader yet
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(nd.id), Address: nd.addr})
	}
	for i := range c.list() {
		if err := c.start(i); err != nil {
			t.Fatalf("rafttest: start %s: %v", c.list()[i].id, err)
		}
	}
	for i, nd := range c.list() {
		// Every node is bootstrapped with the same configuration (as hashicorp/raft's own
		// MakeCluster does); a node that already heard from an elected leader has state and
		// refuses, which is fine for all but the first.
		if err := nd.store.Bootstrap(servers); err != nil && (i == 0 || !errors.Is(err, raft.ErrCantBootstrap)) {
			t.Fatalf("rafttest: bootstrap %s: %v", nd.id, err)
		}
	}
	return c
}

// newNode makes the i-th node's identity, directory and (WithMTLS) cluster port.
func (c *Cluster) newNode(i int) *node {
	c.t.Helper()
	nd := &node{id: fmt.Sprintf("node-%d", i+1), dir: filepath.Join(c.base, fmt.Sprintf("node-%d", i+1))}
	if c.opts.mtls {
		cfg := clusternet.DefaultConfig()
		cfg.NodeID, cfg.Cert, cfg.CA = nd.id, c.ca.NodeCert(c.t, nd.id), c.ca.Pool()
		cfg.ListenAddr = fmt.Sprintf("127.0.0.%d:0", i+2)
		mux, err := clusternet.Listen(cfg, c.logger.With("node", nd.id))
		if err != nil {
			c.t.Fatalf("rafttest: cluster port of %s: %v", nd.id, err)
		}
		nd.mux = mux
		nd.addr = raft.ServerAddress(mux.Addr().String())
	} else {
		nd.addr = raft.ServerAddress("inmem-" + nd.id)
	}
	c.net.register(nd.id, nd.addr)
	return nd
}

// AddNode starts a new node on empty stores, has the leader add it as a voter, and returns its
// index. It does not wait for the node to catch up (RequireSameState does). Call it from the
// controlling goroutine, not while other goroutines use the cluster.
func (c *Cluster) AddNode(t testing.TB) int {
	t.Helper()
	i := c.StartNode(t)
	nd := c.list()[i]
	deadline := time.Now().Add(WaitTimeout)
	for {
		l := c.Leader(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Store(l).AddVoter(ctx, nd.id, nd.addr)
		cancel()
		if err == nil {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("rafttest: add voter %s: %v", nd.id, err)
		}
	}
}

// StartNode starts a new node on empty stores, outside the Raft configuration until a leader
// adds it (AddVoter, AddNonvoter), and returns its index. Call it from the controlling
// goroutine, not while other goroutines use the cluster.
func (c *Cluster) StartNode(t testing.TB) int {
	t.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	c.mu.Unlock()
	nd := c.newNode(i)
	c.mu.Lock()
	c.nodes = append(c.nodes[:i:i], nd)
	c.mu.Unlock()
	c.net.setDown(nd.id, true)
	if err := c.start(i); err != nil {
		t.Fatalf("rafttest: start %s: %v", nd.id, err)
	}
	return i
}

// start opens node i's store on a fresh transport. Called with the node down.
func (c *Cluster) start(i int) error {
	nd := c.list()[i]
	logger := c.logger.With("node", nd.id)
	cfg := TestConfig()
	if c.opts.configure != nil {
		c.opts.configure(&cfg)
	}
	cfg.NodeID, cfg.Dir = nd.id, nd.dir
	deps := raftfsm.Deps{Logger: logger}
	c.mu.Lock()
	err := c.newTransportLocked(nd, logger, &deps)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	// Opened without the lock: Badger and a snapshot catch-up may take a while, and the other
	// nodes' read-index calls need it meanwhile.
	s, err := raftfsm.Open(cfg, deps)
	if err == nil && c.opts.mtls {
		var srv *raftnet.ReadIndexServer
		if srv, err = raftnet.NewReadIndexServer(nd.mux, s, raftnet.DefaultServerConfig(), logger); err != nil {
			s.Close()
		}
		c.mu.Lock()
		nd.srv = srv
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.closeTransportLocked(nd)
		return err
	}
	nd.store = s
	c.net.setDown(nd.id, false)
	return nil
}

// newTransportLocked gives nd a fresh transport and read-index client behind the fault layer.
func (c *Cluster) newTransportLocked(nd *node, logger *slog.Logger, deps *raftfsm.Deps) error {
	var inner raft.Transport
	if c.opts.mtls {
		tc := raftnet.DefaultTransportConfig()
		tc.Timeout = 2 * time.Second
		tr, err := raftnet.NewTransport(nd.mux, tc, logger)
		if err != nil {
			return err
		}
		cl, err := raftnet.NewReadIndexClient(nd.mux, raftnet.DefaultClientConfig())
		if err != nil {
			tr.Close()
			return err
		}
		inner, nd.client = tr, cl
		deps.ReadIndex = &faultReadIndexer{inner: cl, self: nd.id, net: c.net, calls: &nd.readIndexCalls}
		if c.opts.forward {
			deps.Forward = &faultForwarder{inner: cl, self: nd.id, net: c.net, calls: &nd.forwardCalls}
		}
	} else {
		_, tr := raft.NewInmemTransportWithTimeout(nd.addr, time.Second)
		for _, other := range c.nodes {
			if other != nd && other.inmem != nil {
				tr.Connect(other.addr, other.inmem)
				other.inmem.Connect(nd.addr, tr)
			}
		}
		inner, nd.inmem = tr, tr
		deps.ReadIndex = &faultReadIndexer{inner: inmemReadIndexer{c}, self: nd.id, net: c.net, calls: &nd.readIndexCalls}
		if c.opts.forward {
			deps.Forward = &faultForwarder{inner: inmemForwarder{c}, self: nd.id, net: c.net, calls: &nd.forwardCalls}
		}
	}
	nd.trans = &faultTransport{inner: inner, self: nd.id, net: c.net}
	deps.Transport = nd.trans
	return nil
}

func (c *Cluster) closeTransportLocked(nd *node) {
	if nd.srv != nil {
		nd.srv.Close()
		nd.srv = nil
	}
	if nd.client != nil {
		nd.client.Close()
		nd.client = nil
	}
	if w, ok := nd.trans.(raft.WithClose); ok {
		w.Close()
	}
	nd.trans = nil
}

func (c *Cluster) close() {
	for i := range c.list() {
		c.stop(i)
	}
	for _, nd := range c.list() {
		if nd.mux != nil {
			nd.mux.Close()
		}
	}
}

// stop takes node i down abruptly: it becomes unreachable at once, then Raft shuts down and
// the stores close, without a snapshot.
func (c *Cluster) stop(i int) {
	nd := c.list()[i]
	c.net.setDown(nd.id, true)
	c.mu.Lock()
	s := nd.store
	nd.store = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			c.t.Errorf("rafttest: close %s: %v", nd.id, err)
		}
	case <-time.After(closeTimeout):
		// A hung Close is a bug of the store: say where everything stands, and go on (the
		// closing goroutine is leaked) rather than hang the test binary until its timeout.
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		c.t.Errorf("rafttest: close %s still blocked after %v; goroutines:\n%s", nd.id, closeTimeout, buf.String())
		return
	}
	c.mu.Lock()
	c.closeTransportLocked(nd)
	c.mu.Unlock()
}

// list returns the current members.
func (c *Cluster) list() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes
}

// N returns the number of nodes.
func (c *Cluster) N() int { return len(c.list()) }

// ID returns node i's ID ("node-1" for i = 0).
func (c *Cluster) ID(i int) string { return c.list()[i].id }

// Addr returns node i's Raft address.
func (c *Cluster) Addr(i int) raft.ServerAddress { return c.list()[i].addr }

// Dir returns node i's data directory.
func (c *Cluster) Dir(i int) string { return c.list()[i].dir }

// Store returns node i's store, or nil while it is down.
func (c *Cluster) Store(i int) *raftfsm.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].store
}

// ReadIndexCalls returns how many times node i asked a leader for its read index (the
// follower half of LinearizableRead).
func (c *Cluster) ReadIndexCalls(i int) uint64 { return c.list()[i].readIndexCalls.Load() }

// ForwardCalls returns how many batches node i forwarded to a leader (WithForwarding), across
// restarts.
func (c *Cluster) ForwardCalls(i int) uint64 { return c.list()[i].forwardCalls.Load() }

// Alive reports whether node i is up.
func (c *Cluster) Alive(i int) bool { return c.Store(i) != nil }

func (c *Cluster) storeAt(addr raft.ServerAddress) *raftfsm.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nd := range c.nodes {
		if nd.addr == addr {
			return nd.store
		}
	}
	return nil
}

// Partition cuts nodes off from every other node, both directions, until Heal. Several
// partitions may be made; each call makes a new group.
func (c *Cluster) Partition(nodes ...int) {
	ids := make([]string, len(nodes))
	for k, i := range nodes {
		ids[k] = c.list()[i].id
	}
	c.logger.Warn("rafttest: partition", "nodes", strings.Join(ids, ","))
	c.net.partition(ids)
}

// Heal ends every partition.
func (c *Cluster) Heal() {
	c.logger.Warn("rafttest: heal")
	c.net.heal()
}

// Kill takes node i down abruptly (unreachable at once, then Raft shut down and its stores
// closed without a snapshot). Killing a dead node does nothing.
func (c *Cluster) Kill(i int) {
	c.logger.Warn("rafttest: kill", "node", c.list()[i].id)
	c.stop(i)
}

// Restart reopens node i on its directory after Kill. It does not wait for the node to catch
// up.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Alive(i) {
		c.t.Fatalf("rafttest: restart %s: it is running", c.list()[i].id)
	}
	c.logger.Warn("rafttest: restart", "node", c.list()[i].id)
	if err := c.start(i); err != nil {
		c.t.Fatalf("rafttest: restart %s: %v", c.list()[i].id, err)
	}
}

// Leader waits until one live node leads with the acknowledgement of a majority of the
// cluster (a majority of live nodes on its side of any partition name it as leader) and
// returns its index. It fails the test after WaitTimeout.
func (c *Cluster) Leader(t testing.TB) int {
	t.Helper()
	leader := -1
	c.poll(t, "a leader acknowledged by a majority", func() (bool, string) {
		leader = c.stableLeader()
		return leader >= 0, c.describe()
	})
	return leader
}

// stableLeader returns the index of a leader that a majority of the cluster follows, or -1.
func (c *Cluster) stableLeader() int {
	type view struct {
		alive bool
		st    raftfsm.Status
	}
	views := make([]view, len(c.list()))
	for i := range c.list() {
		if s := c.Store(i); s != nil {
			views[i] = view{true, s.Status()}
		}
	}
	best := -1
	for i, v := range views {
		if v.alive && v.st.State.IsLeader() && (best < 0 || v.st.Term > views[best].st.Term) {
			best = i
		}
	}
	if best < 0 {
		return -1
	}
	id, g := c.list()[best].id, c.net.groupOf(c.list()[best].id)
	acks := 0
	for i, v := range views {
		if v.alive && c.net.groupOf(c.list()[i].id) == g && (i == best || v.st.LeaderID == id && v.st.Term == views[best].st.Term) {
			acks++
		}
	}
	if acks < len(c.list())/2+1 {
		return -1
	}
	return best
}

// Followers returns the live nodes other than the current leader (waiting for one).
func (c *Cluster) Followers(t testing.TB) []int {
	t.Helper()
	l := c.Leader(t)
	var out []int
	for i := range c.list() {
		if i != l && c.Alive(i) {
			out = append(out, i)
		}
	}
	return out
}

// Propose proposes b on node i, which should be the leader; a down node gives
// raftfsm.ErrClosed.
func (c *Cluster) Propose(ctx context.Context, i int, b raftfsm.Batch) (raftfsm.Result, error) {
	s := c.Store(i)
	if s == nil {
		return raftfsm.Result{}, fmt.Errorf("%s is down: %w", c.list()[i].id, raftfsm.ErrClosed)
	}
	return s.Propose(ctx, b)
}

// ProposeLeader proposes b on the leader until it commits, following leader changes, and fails
// the test on any other error (a conflict among them). An attempt whose outcome was unknown
// (leadership lost in flight) is retried too, so b may be applied more than once: use it for
// idempotent batches such as Put, and Propose where exactly-once matters.
func (c *Cluster) ProposeLeader(t testing.TB, b raftfsm.Batch) raftfsm.Result {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		l := c.Leader(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := c.Propose(ctx, l, b)
		cancel()
		if err == nil {
			return r
		}
		retry := errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrOutcomeUnknown) || errors.Is(err, context.DeadlineExceeded)
		if !retry || time.Now().After(deadline) {
			t.Fatalf("rafttest: propose on %s: %v", c.list()[l].id, err)
		}
	}
}

// Put returns a batch putting value at key, with an audit entry.
func Put(key, value string) raftfsm.Batch {
	return raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: []byte(value)}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "rafttest", Action: "test.put", Target: key},
	}
}

// RequireSameState waits until every live node has the same applied index and then requires
// the same state hash; the same applied index with different hashes fails at once.
func (c *Cluster) RequireSameState(t testing.TB) {
	t.Helper()
	type hashAt struct {
		applied uint64
		hash    [32]byte
	}
	c.poll(t, "every live node at the same applied index", func() (bool, string) {
		var got []hashAt
		var desc []string
		for i, nd := range c.list() {
			s := c.Store(i)
			if s == nil {
				continue
			}
			applied, h, err := s.StateHash()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", nd.id, err)
			}
			got = append(got, hashAt{applied, h})
			desc = append(desc, fmt.Sprintf("%s applied=%d hash=%x", nd.id, applied, h[:6]))
		}
		if len(got) == 0 {
			t.Fatal("rafttest: RequireSameState: no live node")
		}
		for _, g := range got[1:] {
			if g.applied != got[0].applied {
				return false, strings.Join(desc, "; ")
			}
		}
		for _, g := range got[1:] {
			if g.hash != got[0].hash {
				t.Fatalf("rafttest: DIVERGENCE: same applied index, different state: %s", strings.Join(desc, "; "))
			}
		}
		return true, ""
	})
}

// RequireJournalValid verifies the journal chain on every live node and requires the same
// head everywhere (call it after RequireSameState).
func (c *Cluster) RequireJournalValid(t testing.TB) {
	t.Helper()
	var first *raftfsm.JournalHead
	var firstID string
	for i, nd := range c.list() {
		s := c.Store(i)
		if s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		rep, err := s.VerifyJournal(ctx)
		cancel()
		if err != nil || rep.BrokenAt != 0 {
			t.Fatalf("rafttest: journal of %s: broken at %d: %v", nd.id, rep.BrokenAt, err)
		}
		h, err := s.JournalHead()
		if err != nil {
			t.Fatalf("rafttest: journal head of %s: %v", nd.id, err)
		}
		if rep.Head != h {
			t.Fatalf("rafttest: journal of %s: verified head %d, stored head %d", nd.id, rep.Head.Seq, h.Seq)
		}
		if first == nil {
			first, firstID = &h, nd.id
		} else if *first != h {
			t.Fatalf("rafttest: journal heads differ: %s at %d %x, %s at %d %x", firstID, first.Seq, first.Hash[:6], nd.id, h.Seq, h.Hash[:6])
		}
	}
}

// describe summarises every node's Raft view, for failure messages.
func (c *Cluster) describe() string {
	var parts []string
	for i, nd := range c.list() {
		s := c.Store(i)
		if s == nil {
			parts = append(parts, nd.id+": down")
			continue
		}
		st := s.Status()
		parts = append(parts, fmt.Sprintf("%s: %s term=%d commit=%d applied=%d leader=%q group=%d",
			nd.id, st.State, st.Term, st.CommitIndex, st.AppliedIndex, st.LeaderID, c.net.groupOf(nd.id)))
	}
	return strings.Join(parts, "; ")
}

// poll calls cond until it holds or WaitTimeout passes, then fails the test with what cond
// last said.
func (c *Cluster) poll(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	err := poll.Within(WaitTimeout, func() error {
		if ok, state := cond(); !ok {
			return errors.New(state)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("rafttest: timed out after %v waiting for %s: %v", WaitTimeout, what, err)
	}
}

// TestLogger returns a logger writing records at or above level to t's output until the test
// and its cleanups end (later records are dropped, since testing forbids them).
func TestLogger(t testing.TB, level slog.Level) *slog.Logger {
	return testlog.New(t, level)
}
