package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"valise/fault"
	"valise/raftfsm"
	"valise/userid"
)

// raftfsm.Store is the Metadata of a node.
var _ Metadata = (*raftfsm.Store)(nil)

// maxAttempts bounds the optimistic retries of a change whose records moved under it.
const maxAttempts = 16

// Service is the transfer domain: uploads, files, sends, links and retention. Its methods are
// safe for concurrent use; changes must run on the Raft leader (elsewhere they return an
// error wrapping raftfsm.ErrNotLeader).
type Service struct {
	cfg     Config // never changed after New but for Policy, read through policy()
	store   Metadata
	blobs   Blobs
	hasher  PasswordHasher
	quotas  Quotas // may be nil
	logger  *slog.Logger
	now     func() time.Time
	limiter *ipLimiter
	checks  challengeChecks // the link challenges' checks in flight
	resends *userLimiter    // Config.Resend.PerUser

	randMu sync.Mutex // guards rnd: a test source need not be safe for concurrent use
	rnd    io.Reader

	policyMu sync.RWMutex // guards pol
	pol      Policy
}

// New returns a Service. cfg is validated; deps.Store, deps.Blobs and deps.Hasher must be set.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Hasher == nil {
		return nil, errors.New("transfer: Deps.Store, Deps.Blobs and Deps.Hasher are required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:    cfg,
		store:  deps.Store,
		blobs:  deps.Blobs,
		hasher: deps.Hasher,
		quotas: deps.Quotas,
		logger: logger.With("component", "transfer"),
		now:    deps.Now,
		rnd:    deps.Rand,
		pol:    cfg.Policy,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rnd == nil {
		s.rnd = rand.Reader
	}
	s.limiter = newIPLimiter(cfg.LinkRate, s.now)
	s.resends = newUserLimiter(cfg.Resend.PerUser, cfg.Resend.Window, s.now)
	return s, nil
}

// SetPolicy replaces the policy, for a change of the cluster settings. Records already made
// keep what they were decided with.
func (s *Service) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.policyMu.Lock()
	s.pol = p
	s.policyMu.Unlock()
	return nil
}

// quota returns owner's quota in bytes, 0 for none.
func (s *Service) quota(ctx context.Context, owner userid.ID, pol Policy) (int64, error) {
	if s.quotas == nil {
		return pol.QuotaBytes, nil
	}
	q, err := s.quotas.Quota(ctx, owner)
	if err != nil {
		return 0, fmt.Errorf("quota of %s: %w", owner, err)
	}
	if q < 0 {
		return pol.QuotaBytes, nil
	}
	return q, nil
}

// Policy returns the policy in force (the last SetPolicy's, else Config.Policy). Package
// upload reads it for the largest upload and whether large files are scanned.
func (s *Service) Policy() Policy { return s.policy() }

func (s *Service) policy() Policy {
	s.policyMu.RLock()
	defer s.policyMu.RUnlock()
	return s.pol
}

// clock returns the leader's time for a decision, in UTC with no monotonic reading.
func (s *Service) clock() time.Time { return s.now().UTC().Round(0) }

func (s *Service) readRand(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		return fmt.Errorf("read random: %w", err)
	}
	return nil
}

// newID returns a UUID v7 from the random source.
func (s *Service) newID() (string, error) {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	id, err := uuid.NewV7FromReader(s.rnd)
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// tokenBytes is the size of link and grant secrets: 256 bits.
const tokenBytes = 32

// newToken returns a fresh secret as base64url text and the hex SHA-256 it is stored under.
func (s *Service) newToken() (token, hash string, err error) {
	var b [tokenBytes]byte
	if err := s.readRand(b[:]); err != nil {
		return "", "", err
	}
	return encodeToken(b[:]), hashToken(b[:]), nil
}

func encodeToken(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

func hashToken(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// ParseToken decodes a link or grant token given by a client: exactly 43 characters of
// unpadded base64url holding 32 bytes. It returns the hex SHA-256 the secret is stored
// under; ok is false for anything else.
func ParseToken(token string) (hash string, ok bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return "", false
	}
	return hashToken(raw), true
}

// parseID checks that an ID given by a client is a canonical UUID, so it can name a key.
func parseID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// maxOwnerLen bounds an owner ID so that every key stays well under raftfsm.MaxKeySize.
const maxOwnerLen = 128

func checkOwner(owner userid.ID) error {
	if owner == "" || len(owner) > maxOwnerLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidOwner, len(owner))
	}
	return nil
}

// Keys.
const (
	prefixUpload = "transfer/upload/"
	prefixFile   = "transfer/file/"
	prefixSend   = "transfer/send/"
	prefixOwner  = "transfer/owner/"
	prefixLink   = "transfer/link/"
	prefixGrant  = "transfer/grant/"
	prefixUsage  = "transfer/usage/"
	prefixTomb   = "transfer/tomb/"
)

func uploadKey(id FileID) []byte { return []byte(prefixUpload + string(id)) }
func fileKey(id FileID) []byte   { return []byte(prefixFile + string(id)) }
func sendKey(id SendID) []byte   { return []byte(prefixSend + string(id)) }
func linkKey(hash string) []byte { return []byte(prefixLink + hash) }
func grantKey(hash string) []byte {
	return []byte(prefixGrant + hash)
}
func tombKey(id FileID) []byte { return []byte(prefixTomb + string(id)) }
func usageKey(owner userid.ID) []byte {
	return []byte(prefixUsage + url.PathEscape(string(owner)))
}
func ownerSendPrefix(owner userid.ID) []byte {
	return []byte(prefixOwner + url.PathEscape(string(owner)) + "/send/")
}
func ownerSendKey(owner userid.ID, id SendID) []byte {
	return append(ownerSendPrefix(owner), id...)
}

// getJSON reads key into v and returns its version; raftfsm.ErrNotFound when absent.
func (s *Service) getJSON(key []byte, v any) (uint64, error) {
	item, err := s.store.Get(key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(item.Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return item.Version, nil
}

// scanJSON calls fn with every record under prefix, decoded into a fresh T.
func scanJSON[T any](store Scanner, prefix string, fn func(rec *T, version uint64) error) error {
	return store.Scan([]byte(prefix), func(item raftfsm.Item) error {
		rec := new(T)
		if err := json.Unmarshal(item.Value, rec); err != nil {
			return fmt.Errorf("decode %s: %w", item.Key, err)
		}
		return fn(rec, item.Version)
	})
}

func put(key []byte, v any) raftfsm.Op {
	b, err := json.Marshal(v)
	if err != nil {
		// Every record type is plain data: failing to encode one is a programming error.
		panic(fmt.Sprintf("transfer: encode %s: %v", key, err))
	}
	return raftfsm.Op{Kind: raftfsm.OpPut, Key: key, Value: b}
}

func del(key []byte) raftfsm.Op { return raftfsm.Op{Kind: raftfsm.OpDelete, Key: key} }

func condVersion(key []byte, version uint64) raftfsm.Cond {
	if version == 0 {
		return raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key}
	}
	return raftfsm.Cond{Kind: raftfsm.CondVersion, Key: key, Version: version}
}

func condAbsent(key []byte) raftfsm.Cond { return raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key} }

// audit builds a journal entry; details are encoded as JSON and must hold no secret.
func audit(at time.Time, actor, action, target string, details map[string]any) raftfsm.Audit {
	var d []byte
	if len(details) > 0 {
		d, _ = json.Marshal(details) // maps of plain values always encode
	}
	return raftfsm.Audit{Time: at, Actor: actor, Action: action, Target: target, Details: d}
}

// errSkip, returned by a change's build function, ends the change successfully without
// proposing anything (there was nothing left to do).
var errSkip = errors.New("transfer: nothing to do")

// change builds a batch from fresh reads and proposes it, rebuilding on a conflict (a record
// moved between the reads and Apply) up to maxAttempts times. build returns errSkip when
// nothing needs doing.
func (s *Service) change(ctx context.Context, what string, build func() (raftfsm.Batch, error)) (raftfsm.Result, error) {
	var lastErr error
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return raftfsm.Result{}, fmt.Errorf("%s: %w", what, err)
		}
		b, err := build()
		if err != nil {
			return raftfsm.Result{}, err
		}
		res, err := s.propose(ctx, b)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, raftfsm.ErrConflict) {
			return raftfsm.Result{}, fmt.Errorf("%s: %w", what, err)
		}
		lastErr = err
	}
	return raftfsm.Result{}, fmt.Errorf("%s: %w (%w)", what, ErrBusy, lastErr)
}

// propose proposes b; a change whose outcome raftfsm could not know is settled by re-reading
// (applied).
func (s *Service) propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	res, err := s.store.Propose(ctx, b)
	if errors.Is(err, raftfsm.ErrOutcomeUnknown) {
		if res, ok := s.applied(ctx, b); ok {
			return res, nil
		}
	}
	return res, err
}

// applied settles a change whose outcome was unknown (the leader changed while it was in
// flight, and raftfsm's retry met the first attempt's own effect as a conflict) by re-reading,
// as raftfsm asks, after a linearizable read: b is applied when every key it puts last holds
// the value it put, all at one version (one entry wrote them: that version is its index, the
// Result's), and every key it deletes last is absent. Values carry fresh IDs, epochs and times,
// so another change cannot have left the same ones. Issue 18: after kill -9 of the leader, an
// upload's lease, its completion and a send failed with 500 although they had committed.
func (s *Service) applied(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, bool) {
	if !s.readSettled(ctx) {
		return raftfsm.Result{}, false
	}
	final := map[string]raftfsm.Op{}
	for _, op := range b.Ops {
		final[string(op.Key)] = op
	}
	var index uint64
	for _, op := range final {
		it, err := s.store.Get(op.Key)
		switch {
		case op.Kind == raftfsm.OpDelete:
			if !errors.Is(err, raftfsm.ErrNotFound) {
				return raftfsm.Result{}, false
			}
		case err != nil || !bytes.Equal(it.Value, op.Value) || index != 0 && it.Version != index:
			return raftfsm.Result{}, false
		default:
			index = it.Version
		}
	}
	return raftfsm.Result{Index: index}, index != 0
}

// settleWait bounds how long applied waits for a linearizable read, past the caller's ctx if
// need be (the write may have ended with it): the unknown outcome usually comes from an
// election, which takes about a second.
const settleWait = 10 * time.Second

// readSettled makes a linearizable read, again while the cluster elects a leader (the read
// then fails at once), within settleWait.
func (s *Service) readSettled(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleWait)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		err := s.store.LinearizableRead(ctx)
		if err == nil {
			return true
		}
		if fault.KindOf(err) != fault.Unavailable || ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func skipped(err error) error {
	if errors.Is(err, errSkip) {
		return nil
	}
	return err
}
