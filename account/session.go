package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"valise/raftfsm"
	"valise/userid"
)

// Session is a web login. Its token (a cookie's value) is given once, by CreateSession; only
// its hash is stored.
type Session struct {
	ID       string    `json:"id"` // UUIDv7: names the session in logs and lists
	UserID   userid.ID `json:"user_id"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Generation is the user's password generation the session was opened under (or moved
	// to by the password change made from it): any other ends it.
	Generation int `json:"generation,omitempty"`
}

// expired reports whether the session has passed its absolute or idle limit at now.
func (c SessionConfig) expired(sess Session, now time.Time) bool {
	return !now.Before(sess.Created.Add(c.Absolute)) || !now.Before(sess.LastSeen.Add(c.Idle))
}

// CreateSession opens a session for userID (after CheckPassword) and returns its token, to
// be set as a cookie and never stored by the caller. ErrNotFound for an unknown user,
// ErrDisabled for a disabled one.
func (s *Service) CreateSession(ctx context.Context, userID userid.ID) (string, Session, error) {
	rec, userVersion, err := s.getUser(userID)
	if err != nil {
		return "", Session{}, err
	}
	if rec.Disabled {
		return "", Session{}, userErr(fmt.Errorf("create session for %s: %w", userID, ErrDisabled))
	}
	token, err := newSecret()
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	hash, _ := hashSecret(token)
	id, err := uuid.NewV7()
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: new ID: %w", err)
	}
	now := s.now()
	sess := Session{ID: id.String(), UserID: userID, Created: now, LastSeen: now, Generation: rec.Generation}
	val, err := json.Marshal(sess)
	if err != nil {
		return "", Session{}, fmt.Errorf("create session: %w", err)
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{
			{Kind: raftfsm.CondAbsent, Key: sessionKey(hash)},
			// The user was not disabled (nor deleted) in between.
			{Kind: raftfsm.CondVersion, Key: userKey(userID), Version: userVersion},
		},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: sessionKey(hash), Value: val}},
		Audit: s.audit(ctx, "session.create", string(userID), map[string]any{"session_id": sess.ID}),
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("create session for %s: %w", userID, err)
	}
	return token, sess, nil
}

// Session returns the session with this token and its user, after a linearizable read. It
// fails with ErrInvalidToken for an unknown token, ErrSessionExpired past the idle or absolute
// limit (the session is then deleted), ErrInvalidToken as well for a session opened before
// a password change or reset, ErrDisabled if the user was disabled (all inside a
// *UserError). A session last seen more than Session.TouchEvery ago is touched through Raft;
// off the leader the touch is skipped (logged at debug level).
func (s *Service) Session(ctx context.Context, token string) (Session, User, error) {
	hash, ok := hashSecret(token)
	if !ok {
		return Session{}, User{}, userErr(fmt.Errorf("session: %w", ErrInvalidToken))
	}
	if err := s.store.LinearizableRead(ctx); err != nil {
		return Session{}, User{}, fmt.Errorf("session: %w", err)
	}
	item, err := s.store.Get(sessionKey(hash))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return Session{}, User{}, userErr(fmt.Errorf("session: %w", ErrInvalidToken))
	}
	if err != nil {
		return Session{}, User{}, fmt.Errorf("read session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(item.Value, &sess); err != nil {
		return Session{}, User{}, fmt.Errorf("decode session: %w", err)
	}
	now := s.now()
	if s.cfg.Session.expired(sess, now) {
		if err := s.deleteSession(ctx, hash, sess, "session.expire"); err != nil {
			s.logger.Debug("expired session not deleted", logSessionID, sess.ID, logErr, err)
		}
		return Session{}, User{}, userErr(fmt.Errorf("session %s: %w", sess.ID, ErrSessionExpired))
	}
	rec, _, err := s.getUser(sess.UserID)
	if err != nil {
		return Session{}, User{}, err
	}
	if rec.Disabled {
		return Session{}, User{}, userErr(fmt.Errorf("session %s: %w", sess.ID, ErrDisabled))
	}
	if sess.Generation != rec.Generation {
		// The password changed since: this session ended with it.
		if err := s.deleteSession(ctx, hash, sess, "session.end"); err != nil {
			s.logger.Debug("ended session not deleted", logSessionID, sess.ID, logErr, err)
		}
		return Session{}, User{}, userErr(fmt.Errorf("session %s: %w: opened before a password change", sess.ID, ErrInvalidToken))
	}
	if now.Sub(sess.LastSeen) >= s.cfg.Session.TouchEvery {
		touched := sess
		touched.LastSeen = now
		if err := s.touchSession(ctx, hash, item.Version, touched); err != nil {
			s.logger.Debug("session not touched", logSessionID, sess.ID, logErr, err)
		} else {
			sess = touched
		}
	}
	return sess, rec.User, nil
}

// touchSession records a session's new last-seen time. It is not journalled as an action of
// its own (it is no decision), but every batch carries an audit entry, so it says what it is.
func (s *Service) touchSession(ctx context.Context, hash string, version uint64, sess Session) error {
	val, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: sessionKey(hash), Version: version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: sessionKey(hash), Value: val}},
		Audit: s.audit(ctx, "session.touch", string(sess.UserID), map[string]any{"session_id": sess.ID}),
	})
	return err
}

func (s *Service) deleteSession(ctx context.Context, hash string, sess Session, action string) error {
	_, err := s.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: sessionKey(hash)}},
		Audit: s.audit(ctx, action, string(sess.UserID), map[string]any{"session_id": sess.ID}),
	})
	return err
}

// DeleteSession ends the session with this token (logout). An unknown token is not an error.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	hash, ok := hashSecret(token)
	if !ok {
		return nil
	}
	item, err := s.store.Get(sessionKey(hash))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(item.Value, &sess); err != nil {
		return fmt.Errorf("decode session: %w", err)
	}
	if err := s.deleteSession(ctx, hash, sess, "session.delete"); err != nil {
		return fmt.Errorf("delete session %s: %w", sess.ID, err)
	}
	return nil
}

// PurgeSessions deletes every expired session, in batches, and returns how many it deleted:
// a background job on the leader calls it now and then.
func (s *Service) PurgeSessions(ctx context.Context) (int, error) {
	now := s.now()
	var keys [][]byte
	err := s.store.Scan([]byte(sessionPrefix), func(it raftfsm.Item) error {
		var sess Session
		if err := json.Unmarshal(it.Value, &sess); err != nil || s.cfg.Session.expired(sess, now) {
			keys = append(keys, append([]byte(nil), it.Key...))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, err := s.deleteKeys(ctx, keys, "session.purge")
	if err != nil {
		return n, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}

// deleteKeys deletes keys in batches of at most 1000, each journalled as action with its
// count, and returns how many it deleted before an error.
func (s *Service) deleteKeys(ctx context.Context, keys [][]byte, action string) (int, error) {
	const perBatch = 1000
	for done := 0; done < len(keys); done += perBatch {
		chunk := keys[done:min(done+perBatch, len(keys))]
		ops := make([]raftfsm.Op, len(chunk))
		for i, k := range chunk {
			ops[i] = raftfsm.Op{Kind: raftfsm.OpDelete, Key: k}
		}
		if _, err := s.store.Propose(ctx, raftfsm.Batch{
			Ops:   ops,
			Audit: s.audit(ctx, action, "", map[string]any{"count": len(chunk)}),
		}); err != nil {
			return done, err
		}
	}
	return len(keys), nil
}
