// Package account decides who may use Valise: users (e-mail, name, language, role), their
// passwords (Argon2id), lockout after repeated failures, web sessions and personal access
// tokens.
//
// account decides and raftfsm records: every change is a raftfsm.Batch proposed on the leader,
// with the IDs, times and random values already filled in and the audit entry that goes into
// the journal. Records are JSON under the "account/" key prefix (see keys.go). Checks that
// guard access (a password, a session, a token) first make a linearizable read, so a user
// disabled on one node is refused at once on every node.
//
// Secrets are never stored: passwords as Argon2id hashes in PHC form, session and access
// tokens as their SHA-256. Errors meant for the person at the keyboard are *UserError values,
// carrying a message key and French and English text around the cause; test them with
// errors.Is against the sentinels below.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"valise/fault"
	"valise/raftfsm"
)

// Errors returned by Service, usually inside a *UserError. Callers test them with errors.Is;
// each has a fault.Kind and a stable code (fault.KindOf, fault.CodeOf) that front ends map to
// their answers (issue 17 item 2). The store's "not now" errors (raftfsm.ErrNotLeader,
// ErrNoLeader, ErrClosed) come through wrapped and carry the kind Unavailable themselves; a
// change that keeps conflicting is translated at this boundary into ErrUnavailable.
var (
	// ErrNotFound is returned when the user, session or token asked for does not exist.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "account: not found")

	// ErrEmailTaken is returned by Add when another user already has the e-mail address.
	ErrEmailTaken = fault.New(fault.Conflict, "email_taken", "account: e-mail address already in use")

	// ErrLastSupervisor is returned when a change would leave no active supervisor: the
	// last one cannot be deleted, disabled or given another role.
	ErrLastSupervisor = fault.New(fault.Conflict, "last_supervisor", "account: last active supervisor")

	// ErrInvalidEmail is returned for an e-mail address that is not a plain addr-spec
	// (local@domain, ASCII, no display name, no quoting, at most 254 characters).
	ErrInvalidEmail = fault.New(fault.Invalid, "invalid_input", "account: invalid e-mail address")

	// ErrInvalidInput is returned for a bad name, role, language or token name.
	ErrInvalidInput = fault.New(fault.Invalid, "invalid_input", "account: invalid input")

	// ErrWeakPassword is returned when a chosen password is shorter than the configured
	// minimum or longer than MaxPasswordLen bytes.
	ErrWeakPassword = fault.New(fault.Invalid, "invalid_input", "account: password too weak")

	// ErrBadCredentials is returned by CheckPassword for an unknown e-mail address or a wrong
	// password (the two are indistinguishable, timing included).
	ErrBadCredentials = fault.New(fault.Unauthorized, "bad_credentials", "account: wrong e-mail address or password")

	// ErrDisabled is returned when the user is disabled: by CheckPassword (after a right
	// password only), Session and AuthenticateToken.
	ErrDisabled = fault.New(fault.Unauthorized, "unauthorized", "account: user disabled")

	// ErrLocked is returned by CheckPassword while the user is locked out after repeated
	// failures; the error also holds a *LockedError saying until when.
	ErrLocked = fault.New(fault.RateLimited, "account_locked", "account: temporarily locked")

	// ErrInvalidToken is returned by AuthenticateToken for a token that is malformed, unknown
	// or revoked, and by Session for an unknown session token.
	ErrInvalidToken = fault.New(fault.Unauthorized, "unauthorized", "account: invalid token")

	// ErrSessionExpired is returned by Session when the session passed its idle or absolute
	// limit; it is deleted.
	ErrSessionExpired = fault.New(fault.Unauthorized, "unauthorized", "account: session expired")

	// ErrBusy is returned when too many password hashes already wait for a slot
	// (PasswordConfig.MaxQueue), or one waited PasswordConfig.MaxWait: the caller answers
	// "try again in a moment" (HTTP 429 with Retry-After). Nothing was checked or counted.
	ErrBusy = fault.New(fault.RateLimited, "busy", "account: too many password checks at once")

	// ErrBadPHC is returned by ParsePHC for a string that is not an Argon2id PHC hash within
	// the accepted bounds.
	ErrBadPHC = fault.New(fault.Invalid, "invalid_input", "account: malformed password hash")

	// ErrUnavailable is returned, wrapping raftfsm.ErrConflict, when a change kept
	// conflicting with concurrent ones after its retries. The caller may retry later (HTTP 503
	// with Retry-After), as after the store's own "not now" errors, which have the same kind.
	ErrUnavailable = fault.New(fault.Unavailable, "unavailable", "account: store unavailable, retry")
)

// Store is the replicated metadata as account uses it; *raftfsm.Store implements it.
type Store interface {
	// Propose commits b through Raft (forwarded to the leader from a follower) and returns
	// where it landed. It returns an error wrapping raftfsm.ErrConflict (a
	// *raftfsm.ConflictError) when a condition failed, raftfsm.ErrNotLeader or ErrNoLeader
	// when no leader can take it now.
	Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error)
	// Get reads key from the local state; raftfsm.ErrNotFound if it has no value.
	Get(key []byte) (raftfsm.Item, error)
	// Scan calls fn for each key under prefix in key order, from the local state, and stops
	// at fn's first error, which it returns.
	Scan(prefix []byte, fn func(raftfsm.Item) error) error
	// LinearizableRead returns once the local state reflects every batch committed before the
	// call, so the reads that follow see them.
	LinearizableRead(ctx context.Context) error
}

var _ Store = (*raftfsm.Store)(nil)

// Config tunes the account service. Every duration is positive; DefaultConfig gives the
// values the design asks for.
type Config struct {
	// Password sets how passwords are hashed and what a chosen password must satisfy.
	Password PasswordConfig `toml:"password"`
	// Lockout sets the back-off after repeated wrong passwords.
	Lockout LockoutConfig `toml:"lockout"`
	// Session sets the web sessions' lifetimes.
	Session SessionConfig `toml:"session"`
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time `toml:"-"`
	// OnHash, when set, is called by every Argon2id run once it holds its slot, just before
	// it hashes: tests count (and may hold) the password checks with it.
	OnHash func() `toml:"-"`
}

// PasswordConfig sets Argon2id's cost and the password policy.
type PasswordConfig struct {
	// MemoryKiB is Argon2id's memory in KiB (19456 = 19 MiB, the OWASP minimum).
	MemoryKiB uint32 `toml:"memory_kib"`
	// Iterations is Argon2id's time cost t.
	Iterations uint32 `toml:"iterations"`
	// Parallelism is Argon2id's lanes p.
	Parallelism uint8 `toml:"parallelism"`
	// MaxConcurrent caps how many hashes run at once, so a login storm cannot eat
	// MaxConcurrent × MemoryKiB and more; the others wait their turn (or their context).
	MaxConcurrent int `toml:"max_concurrent"`
	// MaxQueue caps how many hashes may wait for a slot; one more is refused at once with
	// ErrBusy, so a flood of logins cannot make everybody else's wait unbounded.
	MaxQueue int `toml:"max_queue"`
	// MaxWait caps how long a hash waits for a slot before giving up with ErrBusy.
	MaxWait time.Duration `toml:"max_wait"`
	// MinLength is the minimum length, in characters, of a password a person chooses.
	MinLength int `toml:"min_length"`
}

// LockoutConfig sets the back-off after repeated failures: after Threshold wrong passwords in
// a row the user is locked for Base, then each further failure doubles it, up to Max. A right
// password resets the count; so does a quiet Window since the last failure. Failures are
// counted per user and per (user, client address), with the same rule: a lock of the user
// holds every address for Floor, after which an address with no failure of its own may try
// again, one check at a time, so that one guesser cannot lock the user out for long.
type LockoutConfig struct {
	// Threshold is the number of failures in a row that locks the user.
	Threshold int `toml:"threshold"`
	// Base is the first lock's duration.
	Base time.Duration `toml:"base"`
	// Max caps a lock's duration.
	Max time.Duration `toml:"max"`
	// Window is how long after the last failure the count starts over.
	Window time.Duration `toml:"window"`
	// Floor is how long a lock of the user holds addresses that have no failure of their own.
	Floor time.Duration `toml:"floor"`
}

// SessionConfig sets the web sessions' lifetimes.
type SessionConfig struct {
	// Absolute is a session's whole life, whatever its use.
	Absolute time.Duration `toml:"absolute"`
	// Idle ends a session unused for this long.
	Idle time.Duration `toml:"idle"`
	// TouchEvery is how stale a session's last-seen time may get before a lookup records a
	// new one through Raft (a write per request would be too many).
	TouchEvery time.Duration `toml:"touch_every"`
}

// DefaultConfig returns the configuration the design asks for: Argon2id 19 MiB, t=2, p=1, at
// most 4 hashes at once, 32 waiting at most 5 s; lock after 5 failures for 1 min, doubling up
// to 1 h, an address with no failure held by the user's lock for 2 min at most; sessions of
// 12 h with a 30 min idle limit.
func DefaultConfig() Config {
	return Config{
		Password: PasswordConfig{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, MaxConcurrent: 4, MaxQueue: 32, MaxWait: 5 * time.Second, MinLength: 12},
		Lockout:  LockoutConfig{Threshold: 5, Base: time.Minute, Max: time.Hour, Window: 24 * time.Hour, Floor: 2 * time.Minute},
		Session:  SessionConfig{Absolute: 12 * time.Hour, Idle: 30 * time.Minute, TouchEvery: time.Minute},
	}
}

// Validate reports the first unusable setting.
func (c *Config) Validate() error {
	p := c.Password
	switch {
	case p.Parallelism < 1 || p.Parallelism > maxPHCThreads:
		return fmt.Errorf("account config: password.parallelism %d out of 1..%d", p.Parallelism, maxPHCThreads)
	case p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxPHCMemory:
		return fmt.Errorf("account config: password.memory_kib %d out of %d..%d", p.MemoryKiB, 8*uint32(p.Parallelism), maxPHCMemory)
	case p.Iterations < 1 || p.Iterations > maxPHCTime:
		return fmt.Errorf("account config: password.iterations %d out of 1..%d", p.Iterations, maxPHCTime)
	case p.MaxConcurrent < 1:
		return fmt.Errorf("account config: password.max_concurrent %d < 1", p.MaxConcurrent)
	case p.MaxQueue < 0 || p.MaxWait <= 0:
		return fmt.Errorf("account config: password.max_queue must not be negative and password.max_wait must be positive")
	case p.MinLength < 8 || p.MinLength > MaxPasswordLen:
		return fmt.Errorf("account config: password.min_length %d out of 8..%d", p.MinLength, MaxPasswordLen)
	case c.Lockout.Threshold < 1:
		return fmt.Errorf("account config: lockout.threshold %d < 1", c.Lockout.Threshold)
	case c.Lockout.Base <= 0 || c.Lockout.Max < c.Lockout.Base || c.Lockout.Window <= 0 || c.Lockout.Floor <= 0:
		return fmt.Errorf("account config: lockout durations must be positive with base <= max")
	case c.Session.Absolute <= 0 || c.Session.Idle <= 0 || c.Session.TouchEvery <= 0:
		return fmt.Errorf("account config: session durations must be positive")
	case c.Session.TouchEvery >= c.Session.Idle:
		return fmt.Errorf("account config: session.touch_every must be shorter than session.idle")
	}
	return nil
}

// Service is the account service. It is safe for concurrent use; every call that changes
// something must run on the Raft leader (Propose answers raftfsm.ErrNotLeader elsewhere).
type Service struct {
	cfg    Config
	store  Store // never nil
	hasher *hasher
	now    func() time.Time
	logger *slog.Logger

	mu sync.Mutex // guards inflight
	// inflight counts, per lock subject (a user ID, or the stand-in of an unknown address),
	// the password checks admitted and not finished: with the failures already recorded it
	// bounds how many hashes a burst of guesses gets before the lock (see admit).
	inflight map[string]int
}

// New returns a Service over store. It validates cfg.
func New(cfg Config, store Store, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("account: nil store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		cfg:      cfg,
		store:    store,
		hasher:   newHasher(cfg.Password, cfg.OnHash),
		now:      func() time.Time { return now().UTC() },
		logger:   logger.With("component", "account"),
		inflight: make(map[string]int),
	}, nil
}

type actorKey struct{}

// WithActor returns a context saying who acts (a user ID, "cli", "admin-socket"): the audit
// entries of the changes made with it name that actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

type clientIPKey struct{}

// WithClientIP returns a context saying from which client address a request comes (as the
// front end derived it): CheckPassword counts failures per (user, address) with it.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// clientIPFrom returns the address WithClientIP put in ctx, or "".
func clientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

// ActorFrom returns the actor WithActor put in ctx, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "system"
}
