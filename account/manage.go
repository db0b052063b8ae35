package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"valise/raftfsm"
	"valise/userid"
)

// QuotaDefault is what User.QuotaBytes reports for a user without a quota of their own: the
// cluster's quota.user_bytes setting applies.
const QuotaDefault int64 = -1

// QuotaBytes returns the user's own quota: QuotaDefault when none is set, 0 for no quota,
// else bytes.
func (u User) QuotaBytes() int64 {
	if u.Quota == nil {
		return QuotaDefault
	}
	return *u.Quota
}

// Query selects users for Search.
type Query struct {
	Text  string // a case-insensitive substring of the e-mail address or the name; "" for any
	Role  Role   // 0 for any
	State string // "" for any, "active" or "disabled"
}

func (q Query) match(u User) bool {
	if q.Role != 0 && u.Role != q.Role {
		return false
	}
	if (q.State == "active" && u.Disabled) || (q.State == "disabled" && !u.Disabled) {
		return false
	}
	t := strings.ToLower(strings.TrimSpace(q.Text))
	return t == "" || strings.Contains(u.Email, t) || strings.Contains(strings.ToLower(u.Name), t)
}

// Search returns the users matching q sorted by e-mail address, from offset, at most limit
// of them (limit ≤ 0: all), with how many match in all; from the local state.
func (s *Service) Search(ctx context.Context, q Query, offset, limit int) ([]User, int, error) {
	if q.State != "" && q.State != "active" && q.State != "disabled" {
		return nil, 0, userErr(fmt.Errorf("%w: state %q (want active or disabled)", ErrInvalidInput, q.State))
	}
	all, err := s.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	var hits []User
	for _, u := range all {
		if q.match(u) {
			hits = append(hits, u)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].Email < hits[j].Email })
	total := len(hits)
	offset = min(max(offset, 0), total)
	hits = hits[offset:]
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, total, nil
}

// Edit changes the fields of a user that are not nil.
type Edit struct {
	Name     *string
	Language *Language
	Role     *Role
	// Quota is the new quota in bytes: QuotaDefault for the setting's, 0 for none.
	Quota *int64
}

// Update applies e to the user with this e-mail address, journalled as one "user.edit"
// naming the fields changed. A role change that would leave no active supervisor is
// ErrLastSupervisor.
func (s *Service) Update(ctx context.Context, email string, e Edit) (User, error) {
	var name string
	if e.Name != nil {
		n, err := checkName(*e.Name)
		if err != nil {
			return User{}, userErr(err)
		}
		name = n
	}
	if e.Language != nil {
		l, err := ParseLanguage(string(*e.Language))
		if err != nil || *e.Language == "" {
			return User{}, userErr(fmt.Errorf("%w: language %q (want fr or en)", ErrInvalidInput, *e.Language))
		}
		e.Language = &l
	}
	if e.Role != nil {
		if _, err := e.Role.MarshalText(); err != nil {
			return User{}, userErr(err)
		}
	}
	if e.Quota != nil && *e.Quota < QuotaDefault {
		return User{}, userErr(fmt.Errorf("%w: quota %d (want bytes, 0 for none, -1 for the default)", ErrInvalidInput, *e.Quota))
	}
	return s.updateUser(ctx, email, "user.edit", func(r *userRecord) (map[string]any, error) {
		d := map[string]any{}
		if e.Name != nil && r.Name != name {
			r.Name, d["name"] = name, name
		}
		if e.Language != nil && r.Language != *e.Language {
			r.Language, d["language"] = *e.Language, string(*e.Language)
		}
		if e.Role != nil && r.Role != *e.Role {
			r.Role, d["role"] = *e.Role, e.Role.String()
		}
		if e.Quota != nil && r.QuotaBytes() != *e.Quota {
			r.Quota, d["quota_bytes"] = nil, *e.Quota
			if *e.Quota != QuotaDefault {
				q := *e.Quota
				r.Quota = &q
			}
		}
		return d, nil
	})
}

// supervisorGuard returns the condition that keeps one active supervisor when a change turns
// before (an active supervisor) into after (nil: deleted) which is not one: another active
// supervisor's record must not change meanwhile. ErrLastSupervisor when there is none.
func (s *Service) supervisorGuard(before User, after *User) ([]raftfsm.Cond, error) {
	active := func(u *User) bool { return u != nil && u.Role == RoleSupervisor && !u.Disabled }
	if !active(&before) || active(after) {
		return nil, nil
	}
	var conds []raftfsm.Cond
	err := s.store.Scan([]byte(userPrefix), func(it raftfsm.Item) error {
		var rec userRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		if rec.ID != before.ID && active(&rec.User) {
			conds = []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: userKey(rec.ID), Version: it.Version}}
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, fmt.Errorf("find another supervisor: %w", err)
	}
	if conds == nil {
		return nil, userErr(fmt.Errorf("user %s: %w", before.Email, ErrLastSupervisor))
	}
	return conds, nil
}

var errStopScan = errors.New("stop scan")

// tokenDeletes returns the Ops deleting every personal token of the user with this ID (two
// per token: the record and its hash index).
func (s *Service) tokenDeletes(id userid.ID) ([]raftfsm.Op, error) {
	var ops []raftfsm.Op
	err := s.store.Scan([]byte(tokenPrefix), func(it raftfsm.Item) error {
		var tok tokenRecord
		if err := json.Unmarshal(it.Value, &tok); err != nil || tok.UserID != id {
			return nil
		}
		ops = append(ops,
			raftfsm.Op{Kind: raftfsm.OpDelete, Key: tokenKey(tok.ID)},
			raftfsm.Op{Kind: raftfsm.OpDelete, Key: tokenHashKey(tok.Hash)})
		return nil
	})
	return ops, err
}

// Delete deletes the user with this e-mail address with their personal tokens; their
// sessions are deleted with them. Deleting the
// last active supervisor is ErrLastSupervisor. It returns the user as it was.
func (s *Service) Delete(ctx context.Context, email string) (User, error) {
	for range maxRetries {
		rec, version, err := s.getUserByEmail(email)
		if err != nil {
			return User{}, err
		}
		guard, err := s.supervisorGuard(rec.User, nil)
		if err != nil {
			return User{}, err
		}
		b := raftfsm.Batch{
			Conds: append(guard, raftfsm.Cond{Kind: raftfsm.CondVersion, Key: userKey(rec.ID), Version: version}),
			Ops: []raftfsm.Op{
				{Kind: raftfsm.OpDelete, Key: userKey(rec.ID)},
				{Kind: raftfsm.OpDelete, Key: emailKey(rec.Email)},
			},
		}
		tokenOps, err := s.tokenDeletes(rec.ID)
		revoked := len(tokenOps) / 2
		b.Ops = append(b.Ops, tokenOps...)
		if err != nil {
			return User{}, fmt.Errorf("delete user %s: list tokens: %w", rec.ID, err)
		}
		err = s.store.Scan([]byte(sessionPrefix), func(it raftfsm.Item) error {
			var sess Session
			if json.Unmarshal(it.Value, &sess) == nil && sess.UserID == rec.ID {
				b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: it.Key})
			}
			return nil
		})
		if err != nil {
			return User{}, fmt.Errorf("delete user %s: list sessions: %w", rec.ID, err)
		}
		b.Audit = s.audit(ctx, "user.delete", string(rec.ID), map[string]any{"email": rec.Email, "tokens_revoked": revoked})
		_, err = s.store.Propose(ctx, b)
		if errors.Is(err, raftfsm.ErrConflict) {
			continue
		}
		if err != nil {
			return User{}, fmt.Errorf("delete user %s: %w", rec.ID, err)
		}
		s.logger.Info("user deleted", logUserID, rec.ID)
		return rec.User, nil
	}
	return User{}, fmt.Errorf("delete user %s: still conflicting after %d attempts: %w: %w", email, maxRetries, ErrUnavailable, raftfsm.ErrConflict)
}

// Quota returns the quota of the user with this ID in bytes, QuotaDefault for the policy's
// (also for an unknown user), from the local state. It implements transfer.Quotas.
func (s *Service) Quota(ctx context.Context, owner userid.ID) (int64, error) {
	u, err := s.ByID(ctx, owner)
	if errors.Is(err, ErrNotFound) {
		return QuotaDefault, nil
	}
	if err != nil {
		return 0, err
	}
	return u.QuotaBytes(), nil
}
