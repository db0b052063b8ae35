// Package certstore keeps certmagic's TLS assets in the replicated metadata, so that every node
// serves the same certificates, and issues those certificates from the cluster's own CA.
//
// Storage implements certmagic.Storage on raftfsm: values live under "certmagic/data/<key>",
// sealed with a per-value data key wrapped by the cluster key-encryption key when a Sealer is
// given (private keys never rest in clear in the metadata then); locks are cluster-wide leases
// under "certmagic/lock/<name>", taken with a precondition (absent, or a stale lease at its
// exact version), kept alive by their holder and taken over once expired, so a node that dies
// holding one blocks the others for at most a lease's lifetime. Every write carries an audit
// entry ("tls.store", "tls.delete", "tls.lock", "tls.lock.renew", "tls.unlock") naming the key,
// never its content.
//
// Issuer implements certmagic.Issuer on the cluster CA (keyring's SignServerCSR), so certmagic
// never reaches a public ACME CA (docs/dependencies.md, trap 6).
package certstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"valise/raftfsm"
)

// Errors returned by Storage. Callers test them with errors.Is.
var (
	// ErrBadKey is returned for a key that is empty (Store, Load, Delete, Stat) or too long for
	// the metadata once prefixed.
	ErrBadKey = errors.New("certstore: bad key")

	// ErrNotHeld is returned by Unlock for a lock this Storage does not hold.
	ErrNotHeld = errors.New("certstore: lock not held")

	// ErrLockLost is returned by Unlock when the lease had expired and was taken over (or
	// removed) before it was released: the critical section may have overlapped another.
	ErrLockLost = errors.New("certstore: lock lease lost")

	// ErrCorrupt is wrapped by Load when a stored value cannot be decoded or unsealed.
	ErrCorrupt = errors.New("certstore: stored value corrupt")

	// ErrClosed is returned by Lock after Close.
	ErrClosed = errors.New("certstore: storage closed")
)

// Key prefixes in the metadata.
const (
	// Prefix is the metadata prefix of everything certstore writes.
	Prefix     = "certmagic/"
	dataPrefix = Prefix + "data/"
	lockPrefix = Prefix + "lock/"
)

// Audit actions of the writes.
const (
	ActionStore      = "tls.store"
	ActionDelete     = "tls.delete"
	ActionLock       = "tls.lock"
	ActionRenewLease = "tls.lock.renew"
	ActionUnlock     = "tls.unlock"

	auditActor = "system"
)

// Store is the part of raftfsm.Store that Storage uses; *raftfsm.Store implements it.
type Store interface {
	// Propose commits b through Raft and returns once it is applied on this node. It returns an
	// error wrapping raftfsm.ErrConflict when a condition failed, raftfsm.ErrNotLeader or
	// ErrNoLeader when no leader can take it now (a follower forwards to the leader), and one
	// wrapping raftfsm.ErrOutcomeUnknown when the batch may or may not have committed.
	Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error)
	// Get reads key from the local state; raftfsm.ErrNotFound if it has no value.
	Get(key []byte) (raftfsm.Item, error)
	// Scan calls fn for each key under prefix in key order, from the local state, and stops at
	// fn's first error, which it returns. fn must not write.
	Scan(prefix []byte, fn func(raftfsm.Item) error) error
	// LinearizableRead returns once the local state reflects every write committed before the
	// call; raftfsm.ErrNoLeader or raftfsm.ErrNotLeader when it cannot tell.
	LinearizableRead(ctx context.Context) error
}

var _ Store = (*raftfsm.Store)(nil)

// Config tunes a Storage.
type Config struct {
	// Holder names this node in lease records and logs (the node ID).
	Holder string `toml:"holder"`
	// LeaseTTL is how long a lock's lease lasts without renewal: how long a node that died
	// holding a lock blocks the others. It must exceed the clock skew between nodes by far.
	LeaseTTL time.Duration `toml:"lease_ttl"`
	// LeaseRenew is how often the holder renews a lease it still holds; below LeaseTTL.
	LeaseRenew time.Duration `toml:"lease_renew"`
	// LockRetryMin and LockRetryMax bound Lock's back-off between attempts on a held lock.
	LockRetryMin time.Duration `toml:"lock_retry_min"`
	LockRetryMax time.Duration `toml:"lock_retry_max"`
}

// DefaultConfig returns a two-minute lease renewed every 40 seconds, retried from 50 ms up to
// 2 s. Holder is left empty.
func DefaultConfig() Config {
	return Config{
		LeaseTTL:     2 * time.Minute,
		LeaseRenew:   40 * time.Second,
		LockRetryMin: 50 * time.Millisecond,
		LockRetryMax: 2 * time.Second,
	}
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Holder == "":
		return errors.New("certstore config: holder is empty")
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("certstore config: lease_ttl %v below 1s", c.LeaseTTL)
	case c.LeaseRenew <= 0 || c.LeaseRenew >= c.LeaseTTL:
		return fmt.Errorf("certstore config: lease_renew %v must be positive and below lease_ttl %v", c.LeaseRenew, c.LeaseTTL)
	case c.LockRetryMin <= 0 || c.LockRetryMax < c.LockRetryMin:
		return fmt.Errorf("certstore config: lock retry bounds %v..%v", c.LockRetryMin, c.LockRetryMax)
	}
	return nil
}

// Deps are what a Storage is built on.
type Deps struct {
	// Store is the replicated metadata; never nil.
	Store Store
	// Sealer seals every value under the cluster key-encryption key; nil stores values in
	// clear in the metadata (which lives on the cluster's own disks, but then a metadata backup
	// holds the HTTPS private keys in clear). The node passes its *keyring.Keyring.
	Sealer Sealer
	// Now is the clock of lease expiries and modification times; nil means time.Now.
	Now func() time.Time
	// Logger receives the storage's logs; nil discards them.
	Logger *slog.Logger
}

// Storage is certmagic.Storage on the replicated metadata. Its methods are safe for concurrent
// use. Close stops the goroutines that keep held leases alive.
type Storage struct {
	cfg    Config
	store  Store
	sealer Sealer // may be nil
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex       // guards held and closed
	held   map[string]*held // locks this Storage holds, by name
	closed bool

	stop chan struct{}  // closed by Close: every keeper returns
	wg   sync.WaitGroup // the keepers
}

var (
	_ certmagic.Storage = (*Storage)(nil)
	_ fmt.Stringer      = (*Storage)(nil)
)

// New returns a Storage over deps.Store.
func New(cfg Config, deps Deps) (*Storage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("certstore: no store")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Storage{
		cfg: cfg, store: deps.Store, sealer: deps.Sealer, now: now,
		logger: logger.With(attrComponent, "certstore"),
		held:   map[string]*held{},
		stop:   make(chan struct{}),
	}, nil
}

// Close stops renewing the leases this Storage holds (they expire after LeaseTTL unless
// unlocked first) and waits for the goroutines that renewed them. It is idempotent.
func (s *Storage) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "valise-metadata" }

// cleanKey turns a certmagic key into its canonical form: slash-separated, no leading or
// trailing slash, no "." or ".." components.
func cleanKey(key string) string {
	return strings.Trim(path.Clean("/"+key), "/")
}

// dataKey returns the metadata key of a certmagic key, or ErrBadKey.
func dataKey(key string) ([]byte, string, error) {
	k := cleanKey(key)
	if k == "" {
		return nil, "", fmt.Errorf("%w: empty", ErrBadKey)
	}
	mk := []byte(dataPrefix + k)
	if len(mk) > raftfsm.MaxKeySize {
		return nil, "", fmt.Errorf("%w: %d bytes", ErrBadKey, len(k))
	}
	return mk, k, nil
}

// dirPrefix returns the metadata prefix of the keys under the certmagic directory key.
func dirPrefix(key string) []byte {
	k := cleanKey(key)
	if k == "" {
		return []byte(dataPrefix)
	}
	return []byte(dataPrefix + k + "/")
}

// syncPatience is how long sync keeps asking for a leader before it serves the local state: a
// node that has just started, or a follower during an election, learns the leader within a
// few election timeouts, and a read served stale in that window would hide a write this node
// has just made through the leader (a lock it holds, a certificate it stored).
const syncPatience = 2 * time.Second

// sync brings the local state up to date with the leader when it can. Without a leader for
// syncPatience, or on a follower that cannot ask one, reads serve the local state:
// certificates are long-lived and a slightly old one is better than none; every write still
// goes through the leader, where its conditions are checked.
func (s *Storage) sync(ctx context.Context) error {
	deadline := time.Now().Add(syncPatience)
	wait := 10 * time.Millisecond
	for {
		err := s.store.LinearizableRead(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, raftfsm.ErrNoLeader), errors.Is(err, raftfsm.ErrNotLeader):
			// Both pass with an election (ErrNotLeader also comes from a deposed leader asked
			// for its read index); the node always gives its store a way to ask the leader.
			if time.Now().Before(deadline) {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
				wait = min(2*wait, 200*time.Millisecond)
				continue
			}
			s.logger.Debug("reading local state", attrErr, err)
			return nil
		default:
			return fmt.Errorf("linearizable read: %w", err)
		}
	}
}

func (s *Storage) audit(action, target string, details any) raftfsm.Audit {
	d, _ := json.Marshal(details) // plain maps of numbers and strings: cannot fail
	return raftfsm.Audit{Time: s.now().UTC(), Actor: auditActor, Action: action, Target: target, Details: d}
}

// Store puts value at key, sealed when the Storage has a Sealer.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	mk, k, err := dataKey(key)
	if err != nil {
		return fmt.Errorf("store %q: %w", key, err)
	}
	rec, err := s.encodeRecord(ctx, k, value)
	if err != nil {
		return fmt.Errorf("store %s: %w", k, err)
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: mk, Value: rec}},
		Audit: s.audit(ActionStore, k, map[string]any{"size": len(value), "sealed": s.sealer != nil}),
	})
	if err != nil {
		return fmt.Errorf("store %s: %w", k, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	mk, k, err := dataKey(key)
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", key, err)
	}
	if err := s.sync(ctx); err != nil {
		return nil, fmt.Errorf("load %s: %w", k, err)
	}
	item, err := s.store.Get(mk)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return nil, fmt.Errorf("load %s: %w", k, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", k, err)
	}
	v, err := s.decodeRecord(ctx, k, item.Value)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", k, err)
	}
	return v, nil
}

// Delete removes key and, if it is a directory, every key under it. A missing key is not an
// error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	mk, k, err := dataKey(key)
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := s.sync(ctx); err != nil {
		return fmt.Errorf("delete %s: %w", k, err)
	}
	var keys [][]byte
	switch _, err := s.store.Get(mk); {
	case err == nil:
		keys = append(keys, mk)
	case !errors.Is(err, raftfsm.ErrNotFound):
		return fmt.Errorf("delete %s: %w", k, err)
	}
	err = s.store.Scan(dirPrefix(k), func(it raftfsm.Item) error {
		keys = append(keys, it.Key) // Scan hands out its own copies
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", k, err)
	}
	// Nothing there: nothing to propose or journal.
	for len(keys) > 0 {
		n := min(len(keys), raftfsm.MaxOps)
		ops := make([]raftfsm.Op, n)
		for i, mk := range keys[:n] {
			ops[i] = raftfsm.Op{Kind: raftfsm.OpDelete, Key: mk}
		}
		keys = keys[n:]
		_, err := s.store.Propose(ctx, raftfsm.Batch{
			Ops:   ops,
			Audit: s.audit(ActionDelete, k, map[string]any{"keys": n}),
		})
		if err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// errStop ends a Scan early.
var errStop = errors.New("stop")

// Exists reports whether key is a file or a directory (a prefix of other keys).
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a file with its size and modification time, or a directory; an error
// wrapping fs.ErrNotExist if it is neither.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	mk, k, err := dataKey(key)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %q: %w", key, err)
	}
	if err := s.sync(ctx); err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, err)
	}
	item, err := s.store.Get(mk)
	switch {
	case err == nil:
		h, err := parseHeader(item.Value)
		if err != nil {
			return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, err)
		}
		return certmagic.KeyInfo{Key: k, Modified: h.modified, Size: h.size, IsTerminal: true}, nil
	case !errors.Is(err, raftfsm.ErrNotFound):
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, err)
	}
	found := false
	err = s.store.Scan(dirPrefix(k), func(raftfsm.Item) error {
		found = true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, err)
	}
	if !found {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", k, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: k, IsTerminal: false}, nil
}

// List returns the keys under the directory prefix as certmagic's FileStorage does: its direct
// children (files and directories) or, recursive, every file and directory below it, each as
// a full key, sorted. A prefix that is a file lists nothing; one that does not exist gives an
// error wrapping fs.ErrNotExist. The empty prefix is the root.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	p := cleanKey(prefix)
	if err := s.sync(ctx); err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	dp := dirPrefix(p)
	seen := map[string]bool{}
	err := s.store.Scan(dp, func(it raftfsm.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := string(it.Key[len(dp):])
		parts := strings.Split(rel, "/")
		if !recursive {
			parts = parts[:1]
		}
		for i := range parts {
			seen[path.Join(p, strings.Join(parts[:i+1], "/"))] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	if len(seen) == 0 && p != "" {
		mk, _, err := dataKey(p)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", p, err)
		}
		if _, err := s.store.Get(mk); err != nil {
			if errors.Is(err, raftfsm.ErrNotFound) {
				return nil, fmt.Errorf("list %s: %w", p, fs.ErrNotExist)
			}
			return nil, fmt.Errorf("list %s: %w", p, err)
		}
		return nil, nil // a file: nothing under it
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}
