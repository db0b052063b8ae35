package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"valise/internal/clientaddr"
	"valise/raftfsm"
	"valise/userid"
)

// lockRecord counts a subject's recent wrong passwords: a user's (or an unknown address's),
// or those from one client address for it. It lives under its own key so that recording a
// failure never conflicts with an edit of the user.
type lockRecord struct {
	Failures    int       `json:"failures"`              // wrong passwords in a row
	LastFailure time.Time `json:"last_failure"`          // when the last one came
	LockedSince time.Time `json:"locked_since,omitzero"` // when the current lock began
	LockedUntil time.Time `json:"locked_until"`          // zero if not locked
}

// locks are the two lock records a check looks at, with their versions (0: none stored).
type locks struct {
	acct, ip       lockRecord
	acctVer, ipVer uint64
}

// CheckPassword authenticates a person by e-mail address and password. The client address
// put in ctx by WithClientIP counts too. After a linearizable read (so a user disabled on
// another node a moment ago is refused) it returns the user, or a *UserError wrapping:
//   - ErrLocked (with a *LockedError), before any hash is run, while the user is locked out,
//     or while as many checks as failures are still allowed before the lock run already
//     (so that a burst of concurrent guesses gets no more hashes than Lockout.Threshold);
//   - ErrBadCredentials for an unknown address or a wrong password, the same for both, timing
//     included; the failure is recorded through the store, per user and per (user, client
//     address), and the Threshold-th failure in a row locks the user, and the address for
//     the user, for Lockout.Base, each further one doubling it up to Lockout.Max. An unknown
//     address is counted and locked alike. A right password that finds the user locked
//     after its hash (by concurrent guesses) gets ErrBadCredentials too, as a wrong one does;
//   - ErrBusy when too many hashes wait already (nothing counted);
//   - ErrDisabled for a disabled user whose password was right (a guesser learns nothing).
//
// A lock of the user holds an address without failures of its own only for Lockout.Floor:
// then it may try, one check at a time. A right password resets the failure counts (of the
// user and of its address) unless other checks of the user are running. Recording is a
// Propose: on a store that cannot forward it to the leader the error also wraps
// raftfsm.ErrNotLeader, which the caller may treat as "retry on the leader". The caller still
// checks MustChangePassword.
func (s *Service) CheckPassword(ctx context.Context, email, password string) (User, error) {
	if err := s.store.LinearizableRead(ctx); err != nil {
		return User{}, fmt.Errorf("check password: %w", err)
	}
	rec, _, err := s.getUserByEmail(email)
	known := err == nil
	subject := string(rec.ID) // the lock's subject: the user, or a hash of an unknown address
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidEmail) {
		subject = unknownSubject(email)
	} else if err != nil {
		return User{}, err
	}
	addr := clientaddr.Key(clientIPFrom(ctx))
	l, err := s.readLocks(subject, addr)
	if err != nil {
		return User{}, err
	}
	until, ok := s.admit(subject, l, s.now())
	if !ok {
		return User{}, userErr(fmt.Errorf("check password of %s: %w", subject, &LockedError{Until: until}))
	}
	defer s.release(subject)
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen+1] // never matches; bounds the hash's input
	}
	stored := ""
	if known {
		stored = rec.PasswordHash // an unknown address runs the dummy hash: the same time
	}
	right, err := s.hasher.verify(ctx, password, stored)
	if errors.Is(err, ErrBusy) {
		return User{}, userErr(fmt.Errorf("check password of %s: %w", subject, err))
	}
	if err != nil {
		return User{}, fmt.Errorf("check password of %s: %w", subject, err)
	}
	if !right {
		cause := fmt.Errorf("check password of %s: %w", subject, ErrBadCredentials)
		if err := s.recordFailure(ctx, subject, addr); err != nil {
			s.logger.Warn("login failure not recorded", logUserID, subject, logErr, err)
			cause = fmt.Errorf("check password of %s: %w (failure not recorded: %w)", subject, ErrBadCredentials, err)
		}
		return User{}, userErr(cause)
	}
	// Concurrent guesses may have locked the user while this hash ran: the right password
	// then comes too late, and is answered as a wrong one is.
	if l, err = s.readLocks(subject, addr); err != nil {
		return User{}, err
	}
	if _, locked := s.blocked(l, s.now()); locked {
		s.logger.Info("right password refused: locked during the check", logUserID, subject)
		return User{}, userErr(fmt.Errorf("check password of %s: %w: locked during the check", subject, ErrBadCredentials))
	}
	if rec.Disabled {
		return User{}, userErr(fmt.Errorf("check password of %s: %w", rec.ID, ErrDisabled))
	}
	if (l.acct.Failures > 0 || l.ip.Failures > 0) && s.alone(subject) {
		if err := s.resetFailures(ctx, rec.ID, addr); err != nil {
			// The user is authenticated; a stale count only locks them sooner.
			s.logger.Warn("login failures not reset", logUserID, rec.ID, logErr, err)
		}
	}
	return rec.User, nil
}

// unknownSubject names the lock of an address no user has: a hash, so the journal and the
// metadata never hold what a guesser typed.
func unknownSubject(email string) string {
	norm, err := NormalizeEmail(email)
	if err != nil {
		norm = strings.ToLower(strings.TrimSpace(email))
	}
	sum := sha256.Sum256([]byte("valise-unknown-login\x00" + norm))
	return "unknown-" + hex.EncodeToString(sum[:16])
}

// readLocks reads the lock records of subject and of its client address addr.
func (s *Service) readLocks(subject, addr string) (locks, error) {
	var l locks
	var err error
	if l.acct, l.acctVer, err = s.getLockKey(lockKey(subject)); err != nil {
		return locks{}, err
	}
	if l.ip, l.ipVer, err = s.getLockKey(lockIPKey(subject, addr)); err != nil {
		return locks{}, err
	}
	return l, nil
}

// fresh returns r, or the zero record once its last failure is older than the window.
func (c LockoutConfig) fresh(r lockRecord, now time.Time) lockRecord {
	if now.Sub(r.LastFailure) > c.Window {
		return lockRecord{}
	}
	return r
}

// blocked reports whether l refuses a check now, and until when: the address's own lock
// always; the subject's lock unless the address has no failure and the lock began more
// than Lockout.Floor ago.
func (s *Service) blocked(l locks, now time.Time) (time.Time, bool) {
	c := s.cfg.Lockout
	acct, ip := c.fresh(l.acct, now), c.fresh(l.ip, now)
	if now.Before(ip.LockedUntil) {
		return ip.LockedUntil, true
	}
	if now.Before(acct.LockedUntil) && (ip.Failures > 0 || now.Before(acct.LockedSince.Add(c.Floor))) {
		return acct.LockedUntil, true
	}
	return time.Time{}, false
}

// admit reserves a check of subject's password before it is hashed, or reports until when
// it is refused. Not locked, a subject with f recent failures (of its own, or of the
// address, whichever is more) may have Threshold − f checks running (at least one); during a
// lock an address let through gets one at a time. The
// caller releases an admitted check once its failure, if any, is recorded.
func (s *Service) admit(subject string, l locks, now time.Time) (time.Time, bool) {
	if until, locked := s.blocked(l, now); locked {
		return until, false
	}
	acct, ip := s.cfg.Lockout.fresh(l.acct, now), s.cfg.Lockout.fresh(l.ip, now)
	limit := s.cfg.Lockout.Threshold - max(acct.Failures, ip.Failures)
	if now.Before(acct.LockedUntil) || limit < 1 {
		limit = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[subject] >= limit {
		if acct.LockedUntil.After(now) {
			return acct.LockedUntil, false
		}
		return now, false
	}
	s.inflight[subject]++
	return time.Time{}, true
}

// release ends a check admit reserved.
func (s *Service) release(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[subject]--; s.inflight[subject] <= 0 {
		delete(s.inflight, subject)
	}
}

// alone reports whether the caller's check is the only one of subject running.
func (s *Service) alone(subject string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[subject] <= 1
}

// getLockKey reads the lock record under key; the zero record and version 0 if there is none.
func (s *Service) getLockKey(key []byte) (lockRecord, uint64, error) {
	item, err := s.store.Get(key)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return lockRecord{}, 0, nil
	}
	if err != nil {
		return lockRecord{}, 0, fmt.Errorf("read lockout %s: %w", key, err)
	}
	var rec lockRecord
	if err := json.Unmarshal(item.Value, &rec); err != nil {
		return lockRecord{}, 0, fmt.Errorf("decode lockout %s: %w", key, err)
	}
	return rec, item.Version, nil
}

// lockFor returns how long the failures-th failure in a row locks the user: nothing below
// the threshold, then Base, doubling with each further failure, capped at Max.
func (c LockoutConfig) lockFor(failures int) time.Duration {
	if failures < c.Threshold {
		return 0
	}
	d := c.Base
	for i := c.Threshold; i < failures && d < c.Max; i++ {
		d *= 2
	}
	return min(d, c.Max)
}

// fail counts one more failure in r at now, locking when the count reaches the threshold.
// A failure during a lock extends it without moving its start, so that failures from
// ever new addresses cannot keep every address held by the floor.
func (c LockoutConfig) fail(r lockRecord, now time.Time) lockRecord {
	r = c.fresh(r, now)
	r.Failures++
	r.LastFailure = now
	if d := c.lockFor(r.Failures); d > 0 {
		if !now.Before(r.LockedUntil) {
			r.LockedSince = now // a new lock; a failure during one extends it, floor kept
		}
		r.LockedUntil = now.Add(d)
	}
	return r
}

// lockCond is the precondition that a lock record is still the version read.
func lockCond(key []byte, version uint64) raftfsm.Cond {
	if version == 0 {
		return raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key}
	}
	return raftfsm.Cond{Kind: raftfsm.CondVersion, Key: key, Version: version}
}

// recordFailure counts one more wrong password for subject and for its client address addr,
// and locks either when its count reaches the threshold; conditional on the records'
// versions, retried on conflict so that concurrent failures on several nodes all count.
func (s *Service) recordFailure(ctx context.Context, subject, addr string) error {
	for range maxRetries {
		l, err := s.readLocks(subject, addr)
		if err != nil {
			return err
		}
		now := s.now()
		acct, ip := s.cfg.Lockout.fail(l.acct, now), s.cfg.Lockout.fail(l.ip, now)
		details := map[string]any{"failures": acct.Failures, "address": addr, "address_failures": ip.Failures}
		if now.Before(acct.LockedUntil) {
			details["locked_until"] = acct.LockedUntil.Format(time.RFC3339)
		}
		if now.Before(ip.LockedUntil) {
			details["address_locked_until"] = ip.LockedUntil.Format(time.RFC3339)
		}
		av, err := json.Marshal(acct)
		if err != nil {
			return err
		}
		iv, err := json.Marshal(ip)
		if err != nil {
			return err
		}
		_, err = s.store.Propose(ctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{lockCond(lockKey(subject), l.acctVer), lockCond(lockIPKey(subject, addr), l.ipVer)},
			Ops: []raftfsm.Op{
				{Kind: raftfsm.OpPut, Key: lockKey(subject), Value: av},
				{Kind: raftfsm.OpPut, Key: lockIPKey(subject, addr), Value: iv},
			},
			Audit: s.audit(ctx, "user.login_failed", subject, details),
		})
		if errors.Is(err, raftfsm.ErrConflict) {
			continue
		}
		if err == nil && s.cfg.Lockout.lockFor(acct.Failures) > 0 {
			s.logger.Warn("user locked out", logUserID, subject, logFailures, acct.Failures, logUntil, acct.LockedUntil)
		}
		return err
	}
	return fmt.Errorf("record login failure of %s: still conflicting: %w: %w", subject, ErrUnavailable, raftfsm.ErrConflict)
}

// resetFailures deletes a user's lock record and that of the address a right password came
// from; other addresses keep theirs.
func (s *Service) resetFailures(ctx context.Context, userID userid.ID, addr string) error {
	_, err := s.store.Propose(ctx, raftfsm.Batch{
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpDelete, Key: lockKey(string(userID))},
			{Kind: raftfsm.OpDelete, Key: lockIPKey(string(userID), addr)},
		},
		Audit: s.audit(ctx, "user.login_reset", string(userID), nil),
	})
	return err
}

// Unlock clears the lockout of the user with this e-mail address (an administrator's action).
func (s *Service) Unlock(ctx context.Context, email string) error {
	rec, _, err := s.getUserByEmail(email)
	if err != nil {
		return err
	}
	ops := []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: lockKey(string(rec.ID))}}
	err = s.store.Scan(lockIPKey(string(rec.ID), ""), func(it raftfsm.Item) error {
		ops = append(ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: append([]byte(nil), it.Key...)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlock %s: %w", rec.ID, err)
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Ops:   ops,
		Audit: s.audit(ctx, "user.unlock", string(rec.ID), nil),
	})
	if err != nil {
		return fmt.Errorf("unlock %s: %w", rec.ID, err)
	}
	return nil
}

// PurgeLocks deletes the lock records that no longer count (their last failure is older than
// Lockout.Window and no lock runs), in batches, and returns how many it deleted: failures from
// ever new addresses, and at addresses nobody has, leave records behind. A background job on
// the leader calls it now and then.
func (s *Service) PurgeLocks(ctx context.Context) (int, error) {
	now := s.now()
	var keys [][]byte
	for _, prefix := range []string{lockPrefix, lockIPPrefix} {
		err := s.store.Scan([]byte(prefix), func(it raftfsm.Item) error {
			var r lockRecord
			if err := json.Unmarshal(it.Value, &r); err != nil ||
				(now.Sub(r.LastFailure) > s.cfg.Lockout.Window && !now.Before(r.LockedUntil)) {
				keys = append(keys, append([]byte(nil), it.Key...))
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("purge lock records: %w", err)
		}
	}
	n, err := s.deleteKeys(ctx, keys, "user.lock_purge")
	if err != nil {
		return n, fmt.Errorf("purge lock records: %w", err)
	}
	return n, nil
}
