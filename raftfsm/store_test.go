package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/poll"
)

// testConfig has short Raft timeouts for tests on a loaded machine.
func testConfig(id, dir string) Config {
	c := DefaultConfig()
	c.NodeID, c.Dir = id, dir
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
	return c
}

type testNode struct {
	store *Store
	trans *raft.InmemTransport
	addr  raft.ServerAddress
	dir   string
}

func openTestStore(t testing.TB, id, dir string, trans *raft.InmemTransport, deps Deps, tune ...func(*Config)) *Store {
	t.Helper()
	deps.Transport = trans
	if deps.Logger == nil {
		deps.Logger = testLogger(t)
	}
	cfg := testConfig(id, dir)
	for _, f := range tune {
		f(&cfg)
	}
	s, err := Open(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newOneNode opens and bootstraps a one-node store.
func newOneNode(t testing.TB, dir string) *testNode {
	t.Helper()
	addr, trans := raft.NewInmemTransport("")
	n := &testNode{trans: trans, addr: addr, dir: dir}
	n.store = openTestStore(t, "n1", dir, trans, Deps{})
	if err := n.store.BootstrapSelf(addr); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n.store)
	return n
}

func waitLeader(t testing.TB, s *Store) {
	t.Helper()
	poll.Until(t, "leadership", func() bool { return s.Status().State.IsLeader() })
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestOneNodeStore(t *testing.T) {
	dir := t.TempDir()
	n := newOneNode(t, dir)
	s := n.store

	r1, err := s.Propose(ctx(t), putBatch("user/a", "alice", Cond{Kind: CondAbsent, Key: []byte("user/a")}))
	if err != nil {
		t.Fatal(err)
	}
	if r1.JournalSeq != 1 {
		t.Fatalf("first result %+v", r1)
	}
	_, err = s.Propose(ctx(t), putBatch("user/a", "again", Cond{Kind: CondAbsent, Key: []byte("user/a")}))
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Version != r1.Index {
		t.Fatalf("second put: %v, want a conflict at version %d", err, r1.Index)
	}
	if _, err := s.Propose(ctx(t), putBatch("user/b", "bob")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Propose(ctx(t), putBatch("zzz", "other")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Propose(ctx(t), Batch{}); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("empty batch: %v", err)
	}
	it, err := s.Get([]byte("user/a"))
	if err != nil || string(it.Value) != "alice" || it.Version != r1.Index {
		t.Fatalf("Get = %+v, %v", it, err)
	}
	if _, err := s.Get([]byte("user/c")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	var keys []string
	if err := s.Scan([]byte("user/"), func(it Item) error { keys = append(keys, string(it.Key)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[user/a user/b]" {
		t.Fatalf("Scan = %v", keys)
	}
	stop := errors.New("stop")
	if err := s.Scan(nil, func(Item) error { return stop }); err != stop {
		t.Fatalf("Scan did not return fn's error: %v", err)
	}
	if err := s.LinearizableRead(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if idx, err := s.ReadIndex(ctx(t)); err != nil || idx < r1.Index {
		t.Fatalf("ReadIndex = %d, %v", idx, err)
	}
	if _, _, err := s.SignedHead(); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("SignedHead without signer: %v", err)
	}
	st := s.Status()
	if !st.State.IsLeader() || st.LeaderID != "n1" || len(st.Members) != 1 || st.AppliedIndex < st.CommitIndex-0 && false {
		t.Fatalf("Status = %+v", st)
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.BootstrapSelf(n.addr); err == nil {
		t.Fatal("second bootstrap succeeded")
	}
	headBefore, _ := s.JournalHead()
	applied, hashBefore, _ := s.StateHash()

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get([]byte("user/a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}

	// Reopen: the state and the journal are there, nothing is applied twice.
	addr, trans := raft.NewInmemTransport(n.addr)
	_ = addr
	s = openTestStore(t, "n1", dir, trans, Deps{})
	if a, h, _ := s.StateHash(); a != applied || h != hashBefore {
		t.Fatalf("after reopen: applied %d (want %d), same hash %v", a, applied, h == hashBefore)
	}
	waitLeader(t, s)
	r, err := s.Propose(ctx(t), putBatch("user/c", "carol"))
	if err != nil {
		t.Fatal(err)
	}
	if r.JournalSeq != headBefore.Seq+1 {
		t.Fatalf("journal seq after reopen %d, want %d", r.JournalSeq, headBefore.Seq+1)
	}
	rep, err := s.VerifyJournal(ctx(t))
	if err != nil || rep.Entries != r.JournalSeq {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	newOneNode(t, dir)
	_, trans := raft.NewInmemTransport("")
	_, err := Open(testConfig("n1", dir), Deps{Transport: trans, Logger: testLogger(t)})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another node is running on "+dir+":") {
		t.Fatalf("second Open: %v, want ErrLocked naming %s", err, dir)
	}
}

// TestReplayAfterCrash: a node killed after the FSM's Badger commit but before raft's own
// bookkeeping restarts with its FSM applied index ahead of raft's last-applied; raft replays
// the log and the FSM must apply nothing twice.
func TestReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	n := newOneNode(t, dir)
	for i := 0; i < 20; i++ {
		if _, err := n.store.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i%3), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.store.Snapshot(); err != nil { // raft's last-applied restarts here...
		t.Fatal(err)
	}
	for i := 20; i < 30; i++ { // ...and these are replayed from the log
		if _, err := n.store.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i%3), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	applied, hash, _ := n.store.StateHash()
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport(n.addr)
	var logs syncBuffer
	s := openTestStore(t, "n1", dir, trans, Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if strings.Contains(logs.String(), "restoring") {
		t.Fatal("a FSM ahead of the snapshot was restored from it")
	}
	waitLeader(t, s)
	// Once leader, raft commits and replays every entry after its snapshot.
	poll.Until(t, "the new term's commit", func() bool { return s.Status().CommitIndex > applied })
	if err := s.WaitApplied(ctx(t), s.Status().CommitIndex); err != nil {
		t.Fatal(err)
	}
	// Replaying the log applied nothing twice: same state, same journal.
	if a2, h2, _ := s.StateHash(); a2 != applied || h2 != hash {
		t.Fatalf("after replay: applied %d (want %d), same state %v", a2, applied, h2 == hash)
	}
	if h, _ := s.JournalHead(); h.Seq != 30 {
		t.Fatalf("journal head %d after replay, want 30", h.Seq)
	}
	if _, err := s.VerifyJournal(ctx(t)); err != nil {
		t.Fatal(err)
	}
	it, _ := s.Get([]byte("k/2"))
	if string(it.Value) != "29" {
		t.Fatalf("k/2 = %q, want 29", it.Value)
	}
}

// TestCatchUpFromSnapshot: a node that crashed while installing a snapshot (its FSM still
// behind the snapshot in its snapshot store) restores it on Open, since with
// NoSnapshotRestoreOnStart raft would never replay what the snapshot covers.
func TestCatchUpFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	n := newOneNode(t, dir)
	for i := 0; i < 10; i++ {
		if _, err := n.store.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	applied, hash, _ := n.store.StateHash()
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
	// Replace the FSM with an empty one, as if the swap never happened.
	if err := os.RemoveAll(filepath.Join(dir, "fsm")); err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport(n.addr)
	s := openTestStore(t, "n1", dir, trans, Deps{})
	if a, h, _ := s.StateHash(); a != applied || h != hash {
		t.Fatalf("after open: applied %d (want %d), same state %v", a, applied, h == hash)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig("n1", "/tmp/x")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"default with id and dir", func(c *Config) { *c = DefaultConfig(); c.NodeID, c.Dir = "a", "b" }, ""},
		{"no id", func(c *Config) { c.NodeID = "" }, "node_id"},
		{"no dir", func(c *Config) { c.Dir = "" }, "dir"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }, "leader_lease_timeout"},
		{"election below heartbeat", func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 }, "election_timeout"},
		{"tiny lease", func(c *Config) { c.LeaderLeaseTimeout = time.Millisecond }, "leader_lease_timeout"},
		{"no apply timeout", func(c *Config) { c.ApplyTimeout = 0 }, "apply_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDefaultConfigLAN (issue 18, failover): the defaults are the LAN timeouts the failover
// aim needs (200/200/100 ms, docs/performance.md), and hashicorp/raft accepts them (its
// ValidateConfig: lease at most heartbeat, election at least heartbeat, each at least 5ms).
func TestDefaultConfigLAN(t *testing.T) {
	c := DefaultConfig()
	c.NodeID, c.Dir = "n1", t.TempDir()
	if c.HeartbeatTimeout != 200*time.Millisecond || c.ElectionTimeout != 200*time.Millisecond || c.LeaderLeaseTimeout != 100*time.Millisecond {
		t.Fatalf("defaults %v/%v/%v, want 200ms/200ms/100ms", c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := raft.ValidateConfig(c.raftConfig()); err != nil {
		t.Fatalf("raft refuses the defaults: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testSigner struct{}

func (testSigner) SignHead(h JournalHead) ([]byte, error) { return h.Bytes()[:8], nil }

func TestSignedHead(t *testing.T) {
	addr, trans := raft.NewInmemTransport("")
	s := openTestStore(t, "n1", t.TempDir(), trans, Deps{Signer: testSigner{}})
	if err := s.BootstrapSelf(addr); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, s)
	if _, err := s.Propose(ctx(t), putBatch("a", "b")); err != nil {
		t.Fatal(err)
	}
	h, sig, err := s.SignedHead()
	if err != nil || h.Seq != 1 || string(sig) != string(h.Bytes()[:8]) {
		t.Fatalf("SignedHead = %+v %q %v", h, sig, err)
	}
}

// cluster is an in-memory 3-node cluster over raft.InmemTransport.
type cluster struct {
	nodes []*testNode
}

func newCluster(t *testing.T, n int, tune ...func(*Config)) *cluster {
	t.Helper()
	c := &cluster{}
	var servers []raft.Server
	for i := 0; i < n; i++ {
		addr, trans := raft.NewInmemTransport("")
		c.nodes = append(c.nodes, &testNode{trans: trans, addr: addr, dir: t.TempDir()})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(fmt.Sprintf("n%d", i+1)), Address: addr})
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
	for i, node := range c.nodes {
		node.store = openTestStore(t, fmt.Sprintf("n%d", i+1), node.dir, node.trans, Deps{ReadIndex: c}, tune...)
	}
	if err := c.nodes[0].store.Bootstrap(servers); err != nil {
		t.Fatal(err)
	}
	return c
}

// ReadIndex implements ReadIndexer by calling the leader's Store directly.
func (c *cluster) ReadIndex(ctx context.Context, leader raft.ServerAddress) (uint64, error) {
	for _, n := range c.nodes {
		if n.addr == leader && n.store != nil {
			return n.store.ReadIndex(ctx)
		}
	}
	return 0, fmt.Errorf("no node at %s", leader)
}

func (c *cluster) leader(t *testing.T, except *testNode) *testNode {
	t.Helper()
	var l *testNode
	poll.Until(t, "a leader", func() bool {
		for _, n := range c.nodes {
			if n != except && n.store.Status().State.IsLeader() {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// propose retries on the current leader until the batch commits.
func (c *cluster) propose(t *testing.T, b Batch, except *testNode) Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := c.leader(t, except)
		r, err := l.store.Propose(ctx(t), b)
		if err == nil {
			return r
		}
		if !errors.Is(err, ErrNotLeader) || time.Now().After(deadline) {
			t.Fatalf("propose: %v", err)
		}
	}
}

func (c *cluster) requireSameState(t *testing.T, nodes []*testNode) {
	t.Helper()
	var want [32]byte
	var wantApplied uint64
	poll.Until(t, "the same applied index", func() bool {
		wantApplied = nodes[0].store.Status().AppliedIndex
		for _, n := range nodes[1:] {
			if n.store.Status().AppliedIndex != wantApplied {
				return false
			}
		}
		return true
	})
	for i, n := range nodes {
		a, h, err := n.store.StateHash()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			want = h
			continue
		}
		if a != wantApplied || h != want {
			t.Fatalf("node %s: applied %d hash %x, want %d %x", n.store.cfg.NodeID, a, h[:4], wantApplied, want[:4])
		}
		if _, err := n.store.VerifyJournal(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestThreeNodeCluster(t *testing.T) {
	c := newCluster(t, 3)
	for i := 0; i < 10; i++ {
		c.propose(t, putBatch(fmt.Sprintf("k/%d", i), fmt.Sprint(i)), nil)
	}
	c.requireSameState(t, c.nodes)

	// Linearizable reads on every node: a follower asks the leader.
	for _, n := range c.nodes {
		if err := n.store.LinearizableRead(ctx(t)); err != nil {
			t.Fatalf("%s: linearizable read: %v", n.store.cfg.NodeID, err)
		}
		if it, err := n.store.Get([]byte("k/9")); err != nil || string(it.Value) != "9" {
			t.Fatalf("%s: k/9 = %+v %v", n.store.cfg.NodeID, it, err)
		}
	}
	// A follower refuses writes.
	old := c.leader(t, nil)
	for _, n := range c.nodes {
		if n != old {
			if _, err := n.store.Propose(ctx(t), putBatch("x", "y")); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("propose on a follower: %v", err)
			}
			break
		}
	}

	// Lose the leader: the others elect a new one and lose nothing committed.
	if err := old.store.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*testNode
	for _, n := range c.nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	newLeader := c.leader(t, old)
	if newLeader == old {
		t.Fatal("unreachable")
	}
	for i := 10; i < 15; i++ {
		c.propose(t, putBatch(fmt.Sprintf("k/%d", i), fmt.Sprint(i)), old)
	}
	c.requireSameState(t, rest)
	for _, n := range rest {
		if h, _ := n.store.JournalHead(); h.Seq != 15 {
			t.Fatalf("%s: journal head %d, want 15", n.store.cfg.NodeID, h.Seq)
		}
	}

	// The old leader comes back, catches up, and all three agree.
	old.store = openTestStore(t, old.store.cfg.NodeID, old.dir, old.trans, Deps{ReadIndex: c})
	c.requireSameState(t, c.nodes)
}

func TestConcurrentPropose(t *testing.T) {
	n := newOneNode(t, t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("w%d/%d", w, i)
				if _, err := n.store.Propose(ctx(t), putBatch(key, "v", Cond{Kind: CondAbsent, Key: []byte(key)})); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := n.store.VerifyJournal(ctx(t))
	if err != nil || rep.Entries != 160 {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

// TestIsolatedLeader: a leader cut off from the majority refuses linearizable reads and
// writes (no split brain); the majority elects another and goes on; after healing all agree.
func TestIsolatedLeader(t *testing.T) {
	c := newCluster(t, 3)
	c.propose(t, putBatch("k", "before"), nil)
	old := c.leader(t, nil)
	old.trans.DisconnectAll()
	for _, n := range c.nodes {
		if n != old {
			n.trans.Disconnect(old.addr)
		}
	}
	c.propose(t, putBatch("k", "majority"), old)

	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := old.store.LinearizableRead(short); err == nil {
		t.Fatal("the isolated old leader served a linearizable read")
	}
	if _, err := old.store.Propose(short, putBatch("k", "minority")); err == nil {
		t.Fatal("the isolated old leader committed a write")
	}
	if it, _ := old.store.Get([]byte("k")); string(it.Value) == "minority" {
		t.Fatal("the minority write was applied")
	}

	for _, a := range c.nodes { // heal
		for _, b := range c.nodes {
			if a != b {
				a.trans.Connect(b.addr, b.trans)
			}
		}
	}
	c.propose(t, putBatch("k", "after"), nil)
	c.requireSameState(t, c.nodes)
	for _, n := range c.nodes {
		if it, _ := n.store.Get([]byte("k")); string(it.Value) != "after" {
			t.Fatalf("%s: k = %q", n.store.cfg.NodeID, it.Value)
		}
	}
}

func TestClosedAndFollowerErrors(t *testing.T) {
	// A follower without a ReadIndexer, and a node that knows no leader.
	addr, trans := raft.NewInmemTransport("")
	lone := openTestStore(t, "lone", t.TempDir(), trans, Deps{})
	if err := lone.LinearizableRead(ctx(t)); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("linearizable read with no leader: %v", err)
	}
	if _, err := lone.Propose(ctx(t), putBatch("a", "b")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose on a non-leader: %v", err)
	}
	_ = addr
	if err := lone.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lone.Propose(ctx(t), putBatch("a", "b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after close: %v", err)
	}
	if err := lone.LinearizableRead(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if st := lone.Status(); st.State != Shutdown {
		t.Fatalf("status after close: %+v", st)
	}

	c := newCluster(t, 3)
	c.propose(t, putBatch("k", "v"), nil)
	l := c.leader(t, nil)
	for _, n := range c.nodes {
		if n == l {
			continue
		}
		n.store.deps.ReadIndex = nil
		if err := n.store.LinearizableRead(ctx(t)); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower without ReadIndexer: %v", err)
		}
		break
	}
}

// TestRejoinFromSnapshot: a follower down while the leader snapshots and truncates its log
// comes back through InstallSnapshot (FSM.Restore under a running raft) and agrees.
func TestRejoinFromSnapshot(t *testing.T) {
	shortLog := func(c *Config) { c.TrailingLogs = 4; c.SnapshotThreshold = 8 }
	c := newCluster(t, 3, shortLog)
	c.propose(t, putBatch("k/0", "v"), nil)
	leader := c.leader(t, nil)
	var down *testNode
	for _, n := range c.nodes {
		if n != leader {
			down = n
			break
		}
	}
	id := down.store.cfg.NodeID
	if err := down.store.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		c.propose(t, putBatch(fmt.Sprintf("k/%d", i%7), fmt.Sprint(i)), down)
	}
	leader = c.leader(t, down)
	if err := leader.store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	var first uint64
	poll.Until(t, "log truncation", func() bool {
		first, _ = leader.store.logs.FirstIndex()
		return first > 2
	})
	down.store = openTestStore(t, id, down.dir, down.trans, Deps{ReadIndex: c}, shortLog)
	c.propose(t, putBatch("k/after", "v"), nil)
	c.requireSameState(t, c.nodes)
	if it, err := down.store.Get([]byte("k/after")); err != nil || string(it.Value) != "v" {
		t.Fatalf("rejoined node: k/after = %+v %v", it, err)
	}
	if gens := genDirs(t, filepath.Join(down.dir, "fsm")); fmt.Sprint(gens) != "[2]" {
		t.Fatalf("rejoined node's fsm generations %v: it did not restore a snapshot", gens)
	}
	if h, _ := down.store.JournalHead(); h.Seq != 42 {
		t.Fatalf("rejoined node: journal head %d, want 42", h.Seq)
	}
}
