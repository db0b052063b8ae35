package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Config tunes a Store. Every duration must be positive.
type Config struct {
	// NodeID is this node's Raft server ID, unique in the cluster and stable for its life.
	NodeID string `toml:"node_id"`
	// Dir holds the node's metadata: Dir/raft (log and stable store), Dir/fsm (the state),
	// Dir/snapshots.
	Dir string `toml:"dir"`
	// HeartbeatTimeout is how long a follower waits without contact before it starts an
	// election.
	HeartbeatTimeout time.Duration `toml:"heartbeat_timeout"`
	// ElectionTimeout is how long a candidate waits before starting a new election.
	ElectionTimeout time.Duration `toml:"election_timeout"`
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a quorum; at
	// most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration `toml:"leader_lease_timeout"`
	// CommitTimeout is the longest a leader waits before telling followers the commit index
	// (it also does so with each append).
	CommitTimeout time.Duration `toml:"commit_timeout"`
	// SnapshotThreshold is how many new log entries make a snapshot worth taking.
	SnapshotThreshold uint64 `toml:"snapshot_threshold"`
	// SnapshotInterval is how often Raft checks whether to take a snapshot.
	SnapshotInterval time.Duration `toml:"snapshot_interval"`
	// TrailingLogs is how many log entries stay behind a snapshot, so that a follower only a
	// little behind catches up from the log instead of a whole snapshot.
	TrailingLogs uint64 `toml:"trailing_logs"`
	// ApplyTimeout bounds Propose when its context has no earlier deadline.
	ApplyTimeout time.Duration `toml:"apply_timeout"`
}

// DefaultConfig returns LAN defaults; NodeID and Dir are left empty.
//
// The timeouts aim at a new leader within 1 s of the leader's death (docs/performance.md,
// Failover). A follower starts an election after a random wait between HeartbeatTimeout and
// twice it without contact, and a candidate retries after ElectionTimeout to twice it; raft
// sends heartbeats every HeartbeatTimeout/10. With 1000/1000/500 ms a new leader took 1.2 to
// 2.2 s; with 200/200/100 ms about 0.4 s, and heartbeats every 20 ms still leave a LAN (and a
// loaded 2-core machine under -race, rafttest.TestConfig) ten missed ones before a needless
// election. LeaderLeaseTimeout is half of HeartbeatTimeout (raft wants it at most that), so a
// leader cut off from its quorum steps down before the others elect a new one. On a WAN, raise
// all three together (raft.* in the node's valise.toml).
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		ApplyTimeout:       10 * time.Second,
	}
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("raftfsm config: node_id is empty")
	case c.Dir == "":
		return errors.New("raftfsm config: dir is empty")
	case c.HeartbeatTimeout < 5*time.Millisecond:
		return fmt.Errorf("raftfsm config: heartbeat_timeout %v below 5ms", c.HeartbeatTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return fmt.Errorf("raftfsm config: election_timeout %v below heartbeat_timeout %v", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < 5*time.Millisecond || c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("raftfsm config: leader_lease_timeout %v must be between 5ms and heartbeat_timeout", c.LeaderLeaseTimeout)
	case c.CommitTimeout <= 0:
		return errors.New("raftfsm config: commit_timeout must be positive")
	case c.SnapshotThreshold == 0:
		return errors.New("raftfsm config: snapshot_threshold must be positive")
	case c.SnapshotInterval < 5*time.Millisecond:
		return fmt.Errorf("raftfsm config: snapshot_interval %v below 5ms", c.SnapshotInterval)
	case c.ApplyTimeout <= 0:
		return errors.New("raftfsm config: apply_timeout must be positive")
	}
	return nil
}

// raftConfig maps c onto hashicorp/raft's config.
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.NoSnapshotRestoreOnStart = true // the FSM persists itself (DESIGN.md)
	rc.BatchApplyCh = true             // many concurrent proposers: fill each append batch
	return rc
}

// ReadIndexer asks the leader at addr for its commit index after the leader has verified its
// leadership; raftnet implements it over the cluster port. It is called from any goroutine,
// must honour ctx, and returns an error when the leader cannot confirm it still leads.
type ReadIndexer interface {
	ReadIndex(ctx context.Context, leader raft.ServerAddress) (uint64, error)
}

// Forwarder sends a batch proposed on a follower to the leader at addr, which proposes it
// there (Store.ProposeLocal) and answers with its result; raftnet implements it over the
// cluster port. batch is EncodeBatch's output. It is called from any goroutine and must honour
// ctx. Its errors are the leader's Propose errors: a *ConflictError as is, ErrNotLeader when
// the node at addr no longer leads (nothing proposed), ErrInvalidBatch, and ErrOutcomeUnknown
// when the batch was sent but its fate is unknown (the connection broke, ctx ended); one
// wrapping ErrNoLeader when the leader cannot be reached (nothing sent).
type Forwarder interface {
	Forward(ctx context.Context, leader raft.ServerAddress, batch []byte) (Result, error)
}

// Deps are what a Store is built on.
type Deps struct {
	// Transport carries Raft between nodes; never nil. The caller owns it and closes it after
	// Store.Close. (raftnet wraps its NetworkTransport so that the heartbeat fast path is off:
	// docs/dependencies.md, trap 2b; raft.InmemTransport has none.)
	Transport raft.Transport
	// ReadIndex serves LinearizableRead on followers; nil means linearizable reads only on
	// the leader (a follower returns ErrNotLeader).
	ReadIndex ReadIndexer
	// Forward serves Propose on followers by sending the batch to the leader; nil means
	// writes only on the leader (a follower's Propose returns ErrNotLeader).
	Forward Forwarder
	// Signer signs the journal head for SignedHead; may be nil.
	Signer HeadSigner
	// Logger receives the store's logs and raft's at Warn and above; nil discards them.
	Logger *slog.Logger
}

// Store is one node's replicated metadata: Raft, its stores and the FSM. Its methods are
// safe for concurrent use; after Close they return ErrClosed.
type Store struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger

	logs  *LogStore
	fsm   *fsm
	snaps *raft.FileSnapshotStore
	raft  *raft.Raft

	// leaderTerm is the term in which this node, as leader, last saw a Barrier complete: its
	// commit index then covers every entry of earlier terms (ReadIndex needs that).
	termMu     sync.Mutex // guards leaderTerm
	leaderTerm uint64

	wg        sync.WaitGroup // future waiters; raft resolves every future by Shutdown
	closeMu   sync.RWMutex   // guards closed, and orders wg.Add before Close's wg.Wait
	closed    bool
	closedCh  chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error // set once by Close
}

// Open opens or creates the stores under cfg.Dir and starts Raft on them. A fresh Store must
// then be bootstrapped (BootstrapSelf, Bootstrap) or added to a cluster by its leader. Open
// fails with an error wrapping ErrLocked when another node runs on cfg.Dir.
func Open(cfg Config, deps Deps) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Transport == nil {
		return nil, errors.New("raftfsm: open: no transport")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := logger.With(attrNodeID, cfg.NodeID)
	logger = base.With(attrComponent, "raftfsm")
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftfsm: open: %w", err)
	}
	s := &Store{cfg: cfg, deps: deps, logger: logger, closedCh: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.closeStores()
		}
	}()
	var err error
	if s.logs, err = OpenLogStore(filepath.Join(cfg.Dir, "raft"), base); err != nil {
		return nil, openError(cfg.Dir, err)
	}
	if s.fsm, err = openFSM(filepath.Join(cfg.Dir, "fsm"), base.With(attrComponent, "raftfsm.fsm")); err != nil {
		return nil, openError(cfg.Dir, err)
	}
	rlog := newRaftLogger(base.With(attrComponent, "raft"), hclog.Warn)
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "snapshots"), 2, rlog.Named("snapshots")); err != nil {
		return nil, fmt.Errorf("raftfsm: open snapshots: %w", err)
	}
	if err := s.catchUpFromSnapshot(); err != nil {
		return nil, fmt.Errorf("raftfsm: open: %w", err)
	}
	rc := cfg.raftConfig()
	rc.Logger = rlog
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raftfsm: open: %w", err)
	}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.logs, s.snaps, deps.Transport); err != nil {
		return nil, fmt.Errorf("raftfsm: start raft: %w", err)
	}
	ok = true
	logger.Info("raft started", attrDir, cfg.Dir, attrApplied, s.fsm.applied.Load())
	return s, nil
}

func openError(dir string, err error) error {
	if errors.Is(err, ErrLocked) {
		return fmt.Errorf("raftfsm: another node is running on %s: %w", dir, ErrLocked)
	}
	return fmt.Errorf("raftfsm: open: %w", err)
}

// catchUpFromSnapshot restores the FSM from the latest snapshot when the FSM is behind it.
// With NoSnapshotRestoreOnStart, raft starts its last-applied index at the latest snapshot
// and never replays what the snapshot covers (docs/dependencies.md, trap 2a), so a FSM left behind —
// a crash while installing a snapshot from the leader, before the FSM swap — would silently
// miss those entries.
func (s *Store) catchUpFromSnapshot() error {
	metas, err := s.snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(metas) == 0 || metas[0].Index <= s.fsm.applied.Load() {
		return nil
	}
	// Raft's snapshot index may be a no-op or barrier entry beyond the FSM's last command:
	// the FSM's own applied index, the snapshot's first record, decides.
	_, rc, err := s.snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", metas[0].ID, err)
	}
	snapApplied, err := snapshotApplied(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("read snapshot %s: %w", metas[0].ID, err)
	}
	if snapApplied <= s.fsm.applied.Load() {
		return nil
	}
	meta, rc, err := s.snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", metas[0].ID, err)
	}
	s.logger.Warn("fsm behind the latest snapshot: restoring it", attrApplied, s.fsm.applied.Load(), attrSnapApplied, snapApplied, attrSnapshot, meta.ID)
	if err := s.fsm.Restore(rc); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", meta.ID, err)
	}
	return nil
}

// Close shuts Raft down, then closes both Badger directories. The transport is the caller's.
// It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		close(s.closedCh)
		s.closeMu.Unlock()
		var errs []error
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		s.waitFutures(closeFutureWait)
		errs = append(errs, s.closeStores())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// closeFutureWait bounds how long Close waits for the goroutines of await after raft has shut
// down. Raft does not resolve every future on Shutdown (runFSM drops the batches still queued
// in fsmMutateCh), so a waiter may never return; it holds nothing but its future, so Close
// goes on without it rather than hang.
const closeFutureWait = 2 * time.Second

// waitFutures waits for await's goroutines, at most d.
func (s *Store) waitFutures(d time.Duration) {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.logger.Warn("raft left futures unresolved at shutdown; closing without them")
	}
}

// await waits for a raft future under ctx, from a goroutine the Store owns. Close waits for
// these goroutines, for a bounded time: see closeFutureWait.
func (s *Store) await(ctx context.Context, f raft.Future) error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.wg.Add(1)
	s.closeMu.RUnlock()
	done := make(chan error, 1)
	go func() {
		defer s.wg.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) closeStores() error {
	var errs []error
	if s.fsm != nil {
		errs = append(errs, s.fsm.close())
	}
	if s.logs != nil {
		errs = append(errs, s.logs.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closedCh:
		return true
	default:
		return false
	}
}

// BootstrapSelf makes a fresh store a one-node cluster of itself at addr. It fails if the
// stores already hold state.
func (s *Store) BootstrapSelf(addr raft.ServerAddress) error {
	return s.Bootstrap([]raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(s.cfg.NodeID), Address: addr}})
}

// Bootstrap starts a new cluster of servers (this node among them) on fresh stores; call it
// on one node only. It fails if the stores already hold state.
func (s *Store) Bootstrap(servers []raft.Server) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		return fmt.Errorf("raftfsm: bootstrap: %w", err)
	}
	return nil
}

// timeout returns how long a Raft call may take under ctx and ApplyTimeout.
func (s *Store) timeout(ctx context.Context) time.Duration {
	t := s.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left < t {
			t = left
		}
	}
	return max(t, time.Millisecond)
}

// Propose validates b, proposes it through Raft and returns the FSM's result once it is
// committed and applied here. On a follower it is forwarded to the leader (Deps.Forward), which
// proposes it there, and the follower then waits until it has applied it too; without a
// Forwarder a follower gives ErrNotLeader, and with one a follower that knows no leader or
// cannot reach it gives ErrNoLeader. A failed precondition gives a *ConflictError (errors.Is
// ErrConflict); an invalid batch ErrInvalidBatch. When the outcome cannot be known (leadership
// lost in flight, the leader lost during forwarding, ctx ended, shutdown) the error wraps
// ErrOutcomeUnknown: the caller re-reads before retrying. With a Forwarder, Propose itself
// retries while the leader changes, within ctx and ApplyTimeout, whenever a retry cannot apply
// b twice (forward.go states the rule).
func (s *Store) Propose(ctx context.Context, b Batch) (Result, error) {
	if s.isClosed() {
		return Result{}, ErrClosed
	}
	data, err := EncodeBatch(b)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("propose: %w", err)
	}
	if s.deps.Forward != nil {
		return s.forward(ctx, b, data)
	}
	return s.proposeHere(ctx, data)
}

// ProposeLocal proposes b on this node, which must be the leader, and never forwards: it is
// what the leader runs for a follower's forwarded batch (raftnet's call server), so that a
// batch travels one hop at most. Its errors are Propose's; a follower gives ErrNotLeader.
func (s *Store) ProposeLocal(ctx context.Context, b Batch) (Result, error) {
	if s.isClosed() {
		return Result{}, ErrClosed
	}
	data, err := EncodeBatch(b)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("propose: %w", err)
	}
	return s.proposeHere(ctx, data)
}

// proposeHere proposes an encoded batch on this node, which must be the leader.
func (s *Store) proposeHere(ctx context.Context, data []byte) (Result, error) {
	if s.raft.State() != raft.Leader {
		return Result{}, s.notLeader()
	}
	f := s.raft.Apply(data, s.timeout(ctx))
	err := s.await(ctx, f)
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		return Result{}, fmt.Errorf("propose: %w: %w", ErrOutcomeUnknown, ErrClosed)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return Result{}, fmt.Errorf("propose: %w: %w", ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return Result{}, s.notLeader() // refused before it was appended
	case errors.Is(err, raft.ErrLeadershipLost):
		return Result{}, fmt.Errorf("propose: %w: %w", ErrOutcomeUnknown, ErrNotLeader)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return Result{}, fmt.Errorf("propose: %w", context.DeadlineExceeded)
	case errors.Is(err, raft.ErrRaftShutdown):
		return Result{}, fmt.Errorf("propose: %w: %w", ErrOutcomeUnknown, ErrClosed)
	default:
		return Result{}, fmt.Errorf("propose: %w: %w", ErrOutcomeUnknown, err)
	}
	switch r := f.Response().(type) {
	case Result:
		return r, nil
	case *ConflictError:
		return Result{}, r
	default:
		// nil: the entry was skipped as already applied, which a fresh proposal never is.
		return Result{}, fmt.Errorf("propose: %w: unexpected FSM response %T", ErrOutcomeUnknown, r)
	}
}

func (s *Store) notLeader() error {
	addr, id := s.raft.LeaderWithID()
	if id == "" {
		return fmt.Errorf("%w (no leader known)", ErrNotLeader)
	}
	return fmt.Errorf("%w (leader %s at %s)", ErrNotLeader, id, addr)
}

// Get returns key's item from the local state (not linearizable: see LinearizableRead), or
// ErrNotFound.
func (s *Store) Get(key []byte) (Item, error) {
	if s.isClosed() {
		return Item{}, ErrClosed
	}
	return s.fsm.get(key)
}

// Scan calls fn for every item whose key starts with prefix, in key order, from one read
// transaction of the local state. An error from fn stops the scan and is returned as is.
// fn must not call methods that write (it holds a read view).
func (s *Store) Scan(prefix []byte, fn func(Item) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	return s.fsm.scan(prefix, fn)
}

// ReadIndex is the leader's half of a follower's linearizable read: it makes sure this node
// still leads (VerifyLeader, and one Barrier per term so that its commit index covers earlier
// terms) and returns its commit index. raftnet's RPC server calls it.
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if s.raft.State() != raft.Leader {
		return 0, s.notLeader()
	}
	term := s.raft.CurrentTerm()
	s.termMu.Lock()
	ready := s.leaderTerm == term
	s.termMu.Unlock()
	if !ready {
		if err := s.wait(ctx, s.raft.Barrier(s.timeout(ctx))); err != nil {
			return 0, fmt.Errorf("read index: barrier: %w", err)
		}
		s.termMu.Lock()
		s.leaderTerm = term
		s.termMu.Unlock()
	}
	if err := s.wait(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, fmt.Errorf("read index: %w", err)
	}
	if s.raft.CurrentTerm() != term {
		return 0, fmt.Errorf("read index: term changed: %w", ErrNotLeader)
	}
	return s.raft.CommitIndex(), nil
}

// wait waits for a raft future under ctx and maps raft's leadership errors to ErrNotLeader.
func (s *Store) wait(ctx context.Context, f raft.Future) error {
	err := s.await(ctx, f)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return err
}

// LinearizableRead returns once the local state reflects every write committed before it was
// called: on the leader after VerifyLeader, on a follower after asking the leader for its
// read index (Deps.ReadIndex). Local Gets and Scans after it are linearizable. It returns
// ErrNoLeader when no leader is known or the leader could not answer (unreachable, killed, or
// unable to confirm it leads), and ErrNotLeader on a follower without a ReadIndexer, on a
// deposed leader, or when the node asked no longer leads: every failure is a "not now" of
// the kind Unavailable (fault.KindOf counts ctx's end as one too).
func (s *Store) LinearizableRead(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	var index uint64
	if s.raft.State() == raft.Leader {
		var err error
		if index, err = s.ReadIndex(ctx); err != nil {
			return fmt.Errorf("linearizable read: %w", err)
		}
	} else {
		addr, id := s.raft.LeaderWithID()
		switch {
		case id == "" || addr == "":
			return fmt.Errorf("linearizable read: %w", ErrNoLeader)
		case s.deps.ReadIndex == nil:
			return fmt.Errorf("linearizable read: %w", s.notLeader())
		}
		var err error
		if index, err = s.deps.ReadIndex.ReadIndex(ctx, addr); err != nil {
			if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
				// The leader is dead, cut off or could not confirm it leads (an election is
				// under way): a "not now" error like the others, never an internal one, so
				// that a client is told to retry (a 503), not that its credential is bad.
				err = fmt.Errorf("%w: %w", ErrNoLeader, err)
			}
			return fmt.Errorf("linearizable read: ask leader %s: %w", id, err)
		}
	}
	return s.WaitApplied(ctx, index)
}

// AppliedIndex returns the index of the last entry the local state applied. It moves with
// every applied change, so a cache of the local state can tell that it is stale; it is one
// atomic load, cheap enough for every TLS handshake.
func (s *Store) AppliedIndex() uint64 { return s.fsm.applied.Load() }

// WaitApplied returns once the local state reflects every log entry up to index, or ctx
// ends.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	if s.isClosed() {
		return ErrClosed
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		ch := s.fsm.changed()
		if s.appliedUpTo(index) {
			return nil
		}
		select {
		case <-ch:
		case <-t.C: // raft's own applied index moves without telling us
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, s.fsm.applied.Load(), ctx.Err())
		case <-s.closedCh:
			return ErrClosed
		}
	}
}

// appliedUpTo reports whether the FSM reflects every entry up to index. Raft hands the FSM
// only commands and configurations, so the FSM's applied index stays below a trailing no-op
// or barrier entry (a new leader's first entry, ReadIndex's barrier): once raft has handed
// over everything up to index, the entries between the FSM's applied index and index must
// all be of those kinds. An entry gone from the log was compacted into a snapshot, which
// raft takes only after the FSM has handled it.
func (s *Store) appliedUpTo(index uint64) bool {
	applied := s.fsm.applied.Load()
	if applied >= index {
		return true
	}
	if s.raft.AppliedIndex() < index {
		return false
	}
	for i := index; i > applied; i-- {
		var l raft.Log
		err := s.logs.GetLog(i, &l)
		if errors.Is(err, raft.ErrLogNotFound) {
			continue
		}
		if err != nil || l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// Journal calls fn for each journal entry from fromSeq on, in order, from one read
// transaction. An error from fn stops the walk and is returned as is.
func (s *Store) Journal(fromSeq uint64, fn func(Entry) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	return s.fsm.journal(fromSeq, fn)
}

// JournalHead returns the newest link of the journal; Seq 0 for an empty journal.
func (s *Store) JournalHead() (JournalHead, error) {
	if s.isClosed() {
		return JournalHead{}, ErrClosed
	}
	return s.fsm.journalHead()
}

// SignedHead returns the journal head and Deps.Signer's signature over head.Bytes(), or
// ErrNoSigner.
func (s *Store) SignedHead() (JournalHead, []byte, error) {
	if s.deps.Signer == nil {
		return JournalHead{}, nil, ErrNoSigner
	}
	h, err := s.JournalHead()
	if err != nil {
		return h, nil, err
	}
	sig, err := s.deps.Signer.SignHead(h)
	if err != nil {
		return h, nil, fmt.Errorf("sign journal head %d: %w", h.Seq, err)
	}
	return h, sig, nil
}

// VerifyJournal walks the whole chain. When a link does not hold, it returns the report
// (BrokenAt names the first bad entry) and an error wrapping ErrJournalBroken.
func (s *Store) VerifyJournal(ctx context.Context) (VerifyReport, error) {
	if s.isClosed() {
		return VerifyReport{}, ErrClosed
	}
	return s.fsm.verify(ctx)
}

// State is a node's role in Raft. Its value is hashicorp/raft's name for the role, which the
// admin API shows as is ("state": "Leader").
type State string

// The states. A node is Shutdown once closed; Status never reports another value.
const (
	Leader    State = "Leader"    // this node decides: changes are proposed here
	Follower  State = "Follower"  // this node replicates a leader's log
	Candidate State = "Candidate" // this node stands for election
	Shutdown  State = "Shutdown"  // this node's Raft is stopped (after Close)
)

// String returns the state's name, "Leader".
func (s State) String() string { return string(s) }

// IsLeader reports whether s is Leader: whether this node decides changes.
func (s State) IsLeader() bool { return s == Leader }

// stateOf maps hashicorp/raft's state to State, so that no caller compares names.
func stateOf(rs raft.RaftState) State {
	switch rs {
	case raft.Leader:
		return Leader
	case raft.Follower:
		return Follower
	case raft.Candidate:
		return Candidate
	default:
		return Shutdown
	}
}

// Status is a node's view of Raft.
type Status struct {
	ID           string
	State        State
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // the FSM's, as stored
	LastLogIndex uint64
	LeaderID     string // empty when no leader is known
	LeaderAddr   string
	Members      []Member
}

// Member is one server of the Raft configuration.
type Member struct {
	ID       string
	Address  string
	Suffrage string // SuffrageVoter, SuffrageNonvoter or "Staging" (never written by raftfsm)
}

// The suffrages of a Member: hashicorp/raft's names for them.
const (
	// SuffrageVoter: the member votes and counts in every quorum.
	SuffrageVoter = "Voter"
	// SuffrageNonvoter: the member receives the log and serves reads, but never votes nor
	// counts in a quorum.
	SuffrageNonvoter = "Nonvoter"
)

// IsVoter reports whether m votes.
func (m Member) IsVoter() bool { return m.Suffrage == SuffrageVoter }

// Configuration is the latest Raft configuration this node knows, committed or not.
type Configuration struct {
	Members []Member
}

// Member returns the member id and whether it is in c.
func (c Configuration) Member(id string) (Member, bool) {
	for _, m := range c.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// Voters counts c's voters.
func (c Configuration) Voters() int {
	n := 0
	for _, m := range c.Members {
		if m.IsVoter() {
			n++
		}
	}
	return n
}

// Status returns the node's Raft state; after Close, State is Shutdown.
func (s *Store) Status() Status {
	st := Status{ID: s.cfg.NodeID, State: Shutdown, AppliedIndex: s.fsm.applied.Load()}
	if s.isClosed() {
		return st
	}
	st.State = stateOf(s.raft.State())
	st.Term = s.raft.CurrentTerm()
	st.CommitIndex = s.raft.CommitIndex()
	st.LastLogIndex = s.raft.LastIndex()
	addr, id := s.raft.LeaderWithID()
	st.LeaderID, st.LeaderAddr = string(id), string(addr)
	if c, err := s.Configuration(); err == nil {
		st.Members = c.Members
	}
	return st
}

// Configuration returns the latest Raft configuration this node knows, committed or not (the
// leader's may be newer). It fails with ErrClosed after Close. It never blocks: a copy.
func (s *Store) Configuration() (Configuration, error) {
	if s.isClosed() {
		return Configuration{}, ErrClosed
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			return Configuration{}, ErrClosed
		}
		return Configuration{}, fmt.Errorf("raft configuration: %w", err)
	}
	var c Configuration // f.Index() is always 0 in hashicorp/raft v1.8: not given
	for _, srv := range f.Configuration().Servers {
		c.Members = append(c.Members, Member{ID: string(srv.ID), Address: string(srv.Address), Suffrage: srv.Suffrage.String()})
	}
	return c, nil
}

// Progress is how far a node's log and state are: the leader compares a member's with its
// own to tell whether the member has caught up.
type Progress struct {
	LastIndex uint64 // the last entry in the node's log
	Applied   uint64 // the FSM's applied index, as stored
}

// Progress returns this node's Progress; zero after Close. It never blocks and is safe from
// any goroutine (raftnet's progress call answers with it).
func (s *Store) Progress() Progress {
	if s.isClosed() {
		return Progress{}
	}
	return Progress{LastIndex: s.raft.LastIndex(), Applied: s.fsm.applied.Load()}
}

// WaitLeader returns the leader's ID once one is known, or ctx's error.
func (s *Store) WaitLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if s.isClosed() {
			return "", ErrClosed
		}
		if _, id := s.raft.LeaderWithID(); id != "" {
			return string(id), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for a leader: %w", ctx.Err())
		case <-s.closedCh:
			return "", ErrClosed
		case <-t.C:
		}
	}
}

// AddVoter adds (or updates the address of) a voting member, or promotes a non-voter; leader
// only (elsewhere it fails wrapping ErrNotLeader). Promote only a member that has caught up:
// until it has, a voter that lags counts in the quorum without acknowledging anything.
func (s *Store) AddVoter(ctx context.Context, id string, addr raft.ServerAddress) error {
	return s.changeConfig(ctx, "add voter "+id, func(d time.Duration) raft.Future {
		return s.raft.AddVoter(raft.ServerID(id), addr, 0, d)
	})
}

// AddNonvoter adds a member that receives the log and serves reads but never votes nor
// counts in a quorum: how a new or replaced node joins, so that it catches up before it can
// weigh on elections and commits. For a member already in the configuration it only updates
// the address (a voter stays a voter). Leader only: elsewhere it fails wrapping ErrNotLeader.
// It returns once the new configuration is committed, or fails with ctx's error (the change
// may still commit: read Configuration before retrying).
func (s *Store) AddNonvoter(ctx context.Context, id string, addr raft.ServerAddress) error {
	return s.changeConfig(ctx, "add non-voter "+id, func(d time.Duration) raft.Future {
		return s.raft.AddNonvoter(raft.ServerID(id), addr, 0, d)
	})
}

// DemoteVoter makes a voter a non-voter, which stays in the configuration and keeps
// replicating; a non-voter or an unknown ID is left as is. Leader only: elsewhere it fails
// wrapping ErrNotLeader. Raft refuses to demote the last voter. Demoting the leader itself
// makes it step down once the change commits. Its outcome on error is as AddNonvoter's.
func (s *Store) DemoteVoter(ctx context.Context, id string) error {
	return s.changeConfig(ctx, "demote voter "+id, func(d time.Duration) raft.Future {
		return s.raft.DemoteVoter(raft.ServerID(id), 0, d)
	})
}

// RemoveServer removes a member; leader only.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	return s.changeConfig(ctx, "remove server "+id, func(d time.Duration) raft.Future {
		return s.raft.RemoveServer(raft.ServerID(id), 0, d)
	})
}

// changeConfig starts a configuration change with change, given how long raft may take, and
// waits for it under ctx; what names it in errors.
func (s *Store) changeConfig(ctx context.Context, what string, change func(time.Duration) raft.Future) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.wait(ctx, change(s.timeout(ctx))); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Snapshot takes a snapshot now (nothing new since the last one is not an error).
func (s *Store) Snapshot() error {
	if s.isClosed() {
		return ErrClosed
	}
	err := s.raft.Snapshot().Error()
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// StateHash returns the applied index and a SHA-256 over every record of the state, both
// from one read transaction: two nodes at the same applied index must give the same hash.
func (s *Store) StateHash() (applied uint64, hash [32]byte, err error) {
	if s.isClosed() {
		return 0, hash, ErrClosed
	}
	return s.fsm.stateHash()
}
