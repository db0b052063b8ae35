package certstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"valise/raftfsm"
)

// lease is the record of a held lock, JSON under "certmagic/lock/<name>".
type lease struct {
	Holder  string    `json:"holder"`  // the node (Config.Holder)
	Token   string    `json:"token"`   // random, one per acquisition
	Expires time.Time `json:"expires"` // by the holder's clock; renewed every LeaseRenew
}

// held is a lock this Storage holds.
type held struct {
	token string
	stop  chan struct{} // closed by Unlock: the keeper returns
	done  chan struct{} // closed by the keeper when it returns
}

func lockKey(name string) []byte { return []byte(lockPrefix + name) }

func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lock token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Lock takes the cluster-wide lock name, waiting with back-off while another holder's lease is
// live, until ctx ends. A lease whose holder stopped renewing it (the node died) is taken over
// once expired. The lease is renewed in the background until Unlock or Close. On a follower
// without forwarding to the leader it fails with an error wrapping raftfsm.ErrNotLeader.
func (s *Storage) Lock(ctx context.Context, name string) error {
	key := lockKey(name)
	if len(key) > raftfsm.MaxKeySize {
		return fmt.Errorf("lock %q: %w", name, ErrBadKey)
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	delay := s.cfg.LockRetryMin
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("lock %s: %w", name, ErrClosed)
		}
		ok, err := s.tryLock(ctx, name, key, token)
		if err != nil {
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if ok {
			if !s.startKeeper(name, key, token) {
				// Closed meanwhile: nobody renews the lease, which expires after LeaseTTL.
				return fmt.Errorf("lock %s: %w", name, ErrClosed)
			}
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lock %s: %w", name, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.LockRetryMax)
	}
}

// tryLock makes one attempt: it reports whether the lease is now ours, or an error that
// retrying cannot cure.
func (s *Storage) tryLock(ctx context.Context, name string, key []byte, token string) (bool, error) {
	if err := s.sync(ctx); err != nil {
		return false, err
	}
	cond := raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: key}
	takeover := false
	item, err := s.store.Get(key)
	switch {
	case errors.Is(err, raftfsm.ErrNotFound):
	case err != nil:
		return false, err
	default:
		var l lease
		if err := json.Unmarshal(item.Value, &l); err != nil {
			s.logger.Warn("lock lease unreadable: taking it over", attrLock, name, attrErr, err)
		} else if l.Token == token {
			return true, nil // an earlier attempt whose outcome was unknown did commit
		} else if s.now().Before(l.Expires) {
			return false, nil // held
		} else {
			s.logger.Info("lock lease expired: taking it over", attrLock, name, attrHolder, l.Holder, attrExpired, l.Expires)
		}
		cond = raftfsm.Cond{Kind: raftfsm.CondVersion, Key: key, Version: item.Version}
		takeover = true
	}
	val, _ := json.Marshal(lease{Holder: s.cfg.Holder, Token: token, Expires: s.now().Add(s.cfg.LeaseTTL)})
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{cond},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: val}},
		Audit: s.audit(ActionLock, name, map[string]any{"holder": s.cfg.Holder, "takeover": takeover}),
	})
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(err, raftfsm.ErrConflict), errors.Is(err, raftfsm.ErrOutcomeUnknown), errors.Is(err, raftfsm.ErrNoLeader):
		return false, nil // someone else won, or try again and read what happened
	default:
		return false, err
	}
}

// startKeeper records the lock as held and renews its lease until Unlock or Close. It
// returns false, starting nothing, after Close.
func (s *Storage) startKeeper(name string, key []byte, token string) bool {
	h := &held{token: token, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.held[name]
	s.held[name] = h
	s.wg.Add(1)
	s.mu.Unlock()
	if old != nil {
		// This Storage's own earlier lease on name expired (its keeper could not renew it for
		// a whole LeaseTTL) and was just taken over by another of its callers: stop the old
		// keeper. certmagic's Unlock names only the lock, so the earlier caller's Unlock now
		// releases the new holding: rare, and certmagic tolerates imperfect exclusion.
		close(old.stop)
	}
	go s.keep(name, key, h)
	return true
}

// keep renews h's lease every LeaseRenew while it is still h's.
func (s *Storage) keep(name string, key []byte, h *held) {
	defer s.wg.Done()
	defer close(h.done)
	t := time.NewTicker(s.cfg.LeaseRenew)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LeaseRenew)
		lost, err := s.renew(ctx, name, key, h.token)
		cancel()
		if lost {
			s.logger.Warn("lock lease lost before unlock", attrLock, name)
			return
		}
		if err != nil {
			s.logger.Warn("renew lock lease", attrLock, name, attrErr, err)
		}
	}
}

// renew extends the lease if it is still token's; lost says it is not.
func (s *Storage) renew(ctx context.Context, name string, key []byte, token string) (lost bool, err error) {
	if err := s.sync(ctx); err != nil {
		return false, err
	}
	item, l, err := s.readLease(key)
	if errors.Is(err, raftfsm.ErrNotFound) || err == nil && l.Token != token {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	l.Expires = s.now().Add(s.cfg.LeaseTTL)
	val, _ := json.Marshal(l)
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: item.Version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: val}},
		Audit: s.audit(ActionRenewLease, name, map[string]any{"holder": s.cfg.Holder}),
	})
	return false, err
}

func (s *Storage) readLease(key []byte) (raftfsm.Item, lease, error) {
	item, err := s.store.Get(key)
	if err != nil {
		return raftfsm.Item{}, lease{}, err
	}
	var l lease
	if err := json.Unmarshal(item.Value, &l); err != nil {
		return raftfsm.Item{}, lease{}, fmt.Errorf("%w: lease: %v", ErrCorrupt, err)
	}
	return item, l, nil
}

// Unlock releases a lock taken by Lock. It returns ErrNotHeld if this Storage does not hold
// name, and an error wrapping ErrLockLost if the lease expired and was taken over (or
// removed) before the release.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("unlock %s: %w", name, ErrNotHeld)
	}
	close(h.stop)
	<-h.done
	key := lockKey(name)
	unknown := false // an attempt may have deleted the lease without our knowing
	for {
		if err := s.sync(ctx); err != nil {
			return fmt.Errorf("unlock %s: %w", name, err)
		}
		item, l, err := s.readLease(key)
		if unknown && errors.Is(err, raftfsm.ErrNotFound) {
			return nil
		}
		if errors.Is(err, raftfsm.ErrNotFound) || err == nil && l.Token != h.token {
			return fmt.Errorf("unlock %s: %w", name, ErrLockLost)
		}
		if err != nil {
			return fmt.Errorf("unlock %s: %w", name, err)
		}
		_, err = s.store.Propose(ctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: item.Version}},
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: key}},
			Audit: s.audit(ActionUnlock, name, map[string]any{"holder": s.cfg.Holder}),
		})
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("unlock %s: %w", name, ctx.Err())
		case errors.Is(err, raftfsm.ErrConflict), errors.Is(err, raftfsm.ErrOutcomeUnknown), errors.Is(err, raftfsm.ErrNoLeader):
			// re-read: taken over (lost), already deleted by the unknown attempt, or retry
			unknown = unknown || errors.Is(err, raftfsm.ErrOutcomeUnknown)
			t := time.NewTimer(s.cfg.LockRetryMin)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("unlock %s: %w", name, ctx.Err())
			case <-t.C:
			}
		default:
			return fmt.Errorf("unlock %s: %w", name, err)
		}
	}
}
