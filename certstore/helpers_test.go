package certstore

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"valise/keyring"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// testCtx returns a context ended with the test, bounded by the harness's wait.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rafttest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// clock is a settable clock for lease expiries.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConfig is DefaultConfig with quick retries.
func testConfig(holder string) Config {
	cfg := DefaultConfig()
	cfg.Holder = holder
	cfg.LockRetryMin = 5 * time.Millisecond
	cfg.LockRetryMax = 50 * time.Millisecond
	return cfg
}

// newStorage returns a Storage on st closed with the test.
func newStorage(t *testing.T, cfg Config, deps Deps) *Storage {
	t.Helper()
	if deps.Logger == nil {
		deps.Logger = rafttest.TestLogger(t, slog.LevelWarn)
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// singleNode returns the store of a one-node cluster, once it leads.
func singleNode(t *testing.T) *raftfsm.Store {
	t.Helper()
	c := rafttest.NewCluster(t, 1)
	return c.Store(c.Leader(t))
}

// newKeys returns a fresh keyring: the cluster CA and key-encryption key.
func newKeys(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leaderStore reads node i's local state and proposes on whichever node leads: the forwarding
// a follower's node adapter provides, so that a Storage on a follower can write.
type leaderStore struct {
	c *rafttest.Cluster
	i int
}

func (s leaderStore) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	for j := range s.c.N() {
		if st := s.c.Store(j); st != nil && st.Status().State.IsLeader() {
			return st.Propose(ctx, b)
		}
	}
	return raftfsm.Result{}, raftfsm.ErrNoLeader
}

func (s leaderStore) Get(key []byte) (raftfsm.Item, error) { return s.c.Store(s.i).Get(key) }

func (s leaderStore) Scan(prefix []byte, fn func(raftfsm.Item) error) error {
	return s.c.Store(s.i).Scan(prefix, fn)
}

func (s leaderStore) LinearizableRead(ctx context.Context) error {
	return s.c.Store(s.i).LinearizableRead(ctx)
}
