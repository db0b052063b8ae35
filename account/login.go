package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"valise/raftfsm"
)

// lockRecord counts a user's recent wrong passwords. It lives under its own key so that
// recording a failure never conflicts with an edit of the user.
type lockRecord struct {
	Failures    int       `json:"failures"`     // wrong passwords in a row
	LastFailure time.Time `json:"last_failure"` // when the last one came
	LockedUntil time.Time `json:"locked_until"` // zero if not locked
}

// CheckPassword authenticates a person by e-mail address and password. After a linearizable
// read (so a user disabled on another node a moment ago is refused) it returns the user, or
// a *UserError wrapping:
//   - ErrLocked (with a *LockedError) while the user is locked out, before any hash is run;
//   - ErrBadCredentials for an unknown address or a wrong password, the same for both, timing
//     included; the failure is recorded through the store, and the Threshold-th failure in a
//     row locks the user for Lockout.Base, each further one doubling it up to Lockout.Max;
//   - ErrDisabled for a disabled user whose password was right (a guesser learns nothing).
//
// A right password resets the failure count. Recording happens on the leader: elsewhere the
// error also wraps raftfsm.ErrNotLeader, which the caller may treat as "retry on the leader".
// The caller still checks MustChangePassword.
func (s *Service) CheckPassword(ctx context.Context, email, password string) (User, error) {
	if err := s.store.LinearizableRead(ctx); err != nil {
		return User{}, fmt.Errorf("check password: %w", err)
	}
	rec, _, err := s.getUserByEmail(email)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidEmail) {
		// Spend the time a real check spends.
		if _, err := s.hasher.verify(ctx, password, ""); err != nil {
			return User{}, fmt.Errorf("check password: %w", err)
		}
		return User{}, userErr(fmt.Errorf("check password: %w", ErrBadCredentials))
	}
	if err != nil {
		return User{}, err
	}
	now := s.now()
	lock, _, err := s.getLock(rec.ID)
	if err != nil {
		return User{}, err
	}
	if now.Before(lock.LockedUntil) {
		return User{}, userErr(fmt.Errorf("check password of %s: %w", rec.ID, &LockedError{Until: lock.LockedUntil}))
	}
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen+1] // never matches; bounds the hash's input
	}
	ok, err := s.hasher.verify(ctx, password, rec.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("check password of %s: %w", rec.ID, err)
	}
	if !ok {
		cause := fmt.Errorf("check password of %s: %w", rec.ID, ErrBadCredentials)
		if err := s.recordFailure(ctx, rec.ID); err != nil {
			s.logger.Warn("login failure not recorded", logUserID, rec.ID, logErr, err)
			cause = fmt.Errorf("check password of %s: %w (failure not recorded: %w)", rec.ID, ErrBadCredentials, err)
		}
		return User{}, userErr(cause)
	}
	if rec.Disabled {
		return User{}, userErr(fmt.Errorf("check password of %s: %w", rec.ID, ErrDisabled))
	}
	if lock.Failures > 0 {
		if err := s.resetFailures(ctx, rec.ID); err != nil {
			// The user is authenticated; a stale count only locks them sooner.
			s.logger.Warn("login failures not reset", logUserID, rec.ID, logErr, err)
		}
	}
	return rec.User, nil
}

// getLock reads a user's lock record; the zero record and version 0 if there is none.
func (s *Service) getLock(userID string) (lockRecord, uint64, error) {
	item, err := s.store.Get(lockKey(userID))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return lockRecord{}, 0, nil
	}
	if err != nil {
		return lockRecord{}, 0, fmt.Errorf("read lockout of %s: %w", userID, err)
	}
	var rec lockRecord
	if err := json.Unmarshal(item.Value, &rec); err != nil {
		return lockRecord{}, 0, fmt.Errorf("decode lockout of %s: %w", userID, err)
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

// recordFailure counts one more wrong password for userID, and locks the user when the count
// reaches the threshold; conditional on the record's version, retried on conflict so that
// concurrent failures on several nodes all count.
func (s *Service) recordFailure(ctx context.Context, userID string) error {
	for range maxRetries {
		rec, version, err := s.getLock(userID)
		if err != nil {
			return err
		}
		now := s.now()
		if now.Sub(rec.LastFailure) > s.cfg.Lockout.Window {
			rec = lockRecord{}
		}
		rec.Failures++
		rec.LastFailure = now
		details := map[string]any{"failures": rec.Failures}
		if d := s.cfg.Lockout.lockFor(rec.Failures); d > 0 {
			rec.LockedUntil = now.Add(d)
			details["locked_until"] = rec.LockedUntil.Format(time.RFC3339)
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		cond := raftfsm.Cond{Kind: raftfsm.CondVersion, Key: lockKey(userID), Version: version}
		if version == 0 {
			cond = raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: lockKey(userID)}
		}
		_, err = s.store.Propose(ctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{cond},
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: lockKey(userID), Value: val}},
			Audit: s.audit(ctx, "user.login_failed", userID, details),
		})
		if errors.Is(err, raftfsm.ErrConflict) {
			continue
		}
		if err == nil && s.cfg.Lockout.lockFor(rec.Failures) > 0 {
			s.logger.Warn("user locked out", logUserID, userID, logFailures, rec.Failures, logUntil, rec.LockedUntil)
		}
		return err
	}
	return fmt.Errorf("record login failure of %s: %w", userID, raftfsm.ErrConflict)
}

// resetFailures deletes a user's lock record after a right password.
func (s *Service) resetFailures(ctx context.Context, userID string) error {
	_, err := s.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: lockKey(userID)}},
		Audit: s.audit(ctx, "user.login_reset", userID, nil),
	})
	return err
}

// Unlock clears the lockout of the user with this e-mail address (an administrator's action).
func (s *Service) Unlock(ctx context.Context, email string) error {
	rec, _, err := s.getUserByEmail(email)
	if err != nil {
		return err
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: lockKey(rec.ID)}},
		Audit: s.audit(ctx, "user.unlock", rec.ID, nil),
	})
	if err != nil {
		return fmt.Errorf("unlock %s: %w", rec.ID, err)
	}
	return nil
}
