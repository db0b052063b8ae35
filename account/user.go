package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"valise/raftfsm"
	"valise/userid"
)

// Role is what a user may do.
type Role uint8

const (
	// RoleUser sends and receives files.
	RoleUser Role = 1
	// RoleManager also manages users and sees their transfers.
	RoleManager Role = 2
	// RoleSupervisor administers the appliance; the first admin is one.
	RoleSupervisor Role = 3
)

// String returns the role's name: "user", "manager" or "supervisor".
func (r Role) String() string {
	switch r {
	case RoleUser:
		return "user"
	case RoleManager:
		return "manager"
	case RoleSupervisor:
		return "supervisor"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole returns the role named s (as String writes it, any case).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "user":
		return RoleUser, nil
	case "manager":
		return RoleManager, nil
	case "supervisor":
		return RoleSupervisor, nil
	}
	return 0, fmt.Errorf("%w: role %q (want supervisor, manager or user)", ErrInvalidInput, s)
}

// MarshalText encodes the role as its name.
func (r Role) MarshalText() ([]byte, error) {
	if r < RoleUser || r > RoleSupervisor {
		return nil, fmt.Errorf("%w: role %d", ErrInvalidInput, uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText decodes a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Language is a user's language for pages and mails.
type Language string

const (
	// LangFR is French, the default.
	LangFR Language = "fr"
	// LangEN is English.
	LangEN Language = "en"
)

// ParseLanguage returns the language with code s ("fr" or "en", any case); "" gives LangFR.
func ParseLanguage(s string) (Language, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "fr":
		return LangFR, nil
	case "en":
		return LangEN, nil
	}
	return "", fmt.Errorf("%w: language %q (want fr or en)", ErrInvalidInput, s)
}

// User is a person who may sign in.
type User struct {
	ID                 userid.ID `json:"id"` // UUIDv7, chosen on the leader
	Email              string    `json:"email"`
	Name               string    `json:"name"`
	Language           Language  `json:"language"`
	Role               Role      `json:"role"`
	Disabled           bool      `json:"disabled"`
	MustChangePassword bool      `json:"must_change_password"`
	Created            time.Time `json:"created"`
	// Quota is the user's own storage quota in bytes (0: none); nil means the cluster's
	// quota.user_bytes setting applies (QuotaBytes reports QuotaDefault then).
	Quota *int64 `json:"quota_bytes,omitempty"`
}

// userRecord is a user as stored: with the password's hash, which never leaves the package.
type userRecord struct {
	User
	PasswordHash string `json:"password_hash"`
	// Generation counts the password changes and resets: a session or token opened under an
	// older generation authenticates nobody.
	Generation int `json:"generation,omitempty"`
}

// NewUser is what Add needs to create a user.
type NewUser struct {
	Email    string   // required; normalised by NormalizeEmail
	Name     string   // optional display name, at most 200 characters, no control characters
	Language Language // "" means LangFR
	Role     Role     // 0 means RoleUser
	// Password is the user's chosen password, checked against the policy; "" makes Add
	// generate one, return it (to be shown once) and require a change at first login.
	Password string
}

const maxNameLen = 200

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxNameLen || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: name longer than %d characters", ErrInvalidInput, maxNameLen)
	}
	for _, c := range name {
		if unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
			return "", fmt.Errorf("%w: control character in name", ErrInvalidInput)
		}
	}
	return name, nil
}

// Add creates a user and returns it with its password: the one given, or a generated one (to
// show once; the user must change it at first login). It fails with ErrInvalidEmail,
// ErrInvalidInput, ErrWeakPassword or ErrEmailTaken inside a *UserError, or with the store's
// error (raftfsm.ErrNotLeader off the leader).
func (s *Service) Add(ctx context.Context, nu NewUser) (User, string, error) {
	email, err := NormalizeEmail(nu.Email)
	if err != nil {
		return User{}, "", userErr(err)
	}
	name, err := checkName(nu.Name)
	if err != nil {
		return User{}, "", userErr(err)
	}
	lang, err := ParseLanguage(string(nu.Language))
	if err != nil {
		return User{}, "", userErr(err)
	}
	role := nu.Role
	if role == 0 {
		role = RoleUser
	}
	if _, err := role.MarshalText(); err != nil {
		return User{}, "", userErr(err)
	}
	password, mustChange := nu.Password, false
	if password == "" {
		password, mustChange = GeneratePassword(), true
	} else if err := s.checkPassword(password); err != nil {
		return User{}, "", err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return User{}, "", fmt.Errorf("add user %s: %w", email, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return User{}, "", fmt.Errorf("add user %s: new ID: %w", email, err)
	}
	rec := userRecord{User: User{
		ID: userid.ID(id.String()), Email: email, Name: name, Language: lang, Role: role,
		MustChangePassword: mustChange, Created: s.now(),
	}, PasswordHash: hash}
	val, err := json.Marshal(rec)
	if err != nil {
		return User{}, "", fmt.Errorf("add user %s: %w", email, err)
	}
	b := raftfsm.Batch{
		Conds: []raftfsm.Cond{
			{Kind: raftfsm.CondAbsent, Key: emailKey(email)},
			{Kind: raftfsm.CondAbsent, Key: userKey(rec.ID)},
		},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpPut, Key: userKey(rec.ID), Value: val},
			{Kind: raftfsm.OpPut, Key: emailKey(email), Value: []byte(rec.ID)},
		},
		Audit: s.audit(ctx, "user.add", string(rec.ID), map[string]any{"email": email, "role": role.String()}),
	}
	if _, err := s.store.Propose(ctx, b); err != nil {
		if errors.Is(err, raftfsm.ErrConflict) {
			return User{}, "", userErr(fmt.Errorf("add user %s: %w", email, ErrEmailTaken))
		}
		return User{}, "", fmt.Errorf("add user %s: %w", email, err)
	}
	s.logger.Info("user added", logUserID, rec.ID, logRole, role.String())
	return rec.User, password, nil
}

// audit builds the journal entry of a change. details must hold no secret.
func (s *Service) audit(ctx context.Context, action, target string, details map[string]any) raftfsm.Audit {
	var d []byte
	if details != nil {
		d, _ = json.Marshal(details) // maps of strings and numbers always encode
	}
	return raftfsm.Audit{Time: s.now(), Actor: ActorFrom(ctx), Action: action, Target: target, Details: d}
}

// getUser reads a user record by ID from the local state, with its version.
func (s *Service) getUser(id userid.ID) (userRecord, uint64, error) {
	return getRecord[userRecord](s, userKey(id), "user "+string(id))
}

// getRecord reads the JSON record at key from the local state, with its version; what names
// it in errors ("user u1"). A missing record is ErrNotFound, in a *UserError.
func getRecord[T any](s *Service, key []byte, what string) (T, uint64, error) {
	var rec T
	item, err := s.store.Get(key)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return rec, 0, userErr(fmt.Errorf("%s: %w", what, ErrNotFound))
	}
	if err != nil {
		return rec, 0, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(item.Value, &rec); err != nil {
		return rec, 0, fmt.Errorf("decode %s: %w", what, err)
	}
	return rec, item.Version, nil
}

// getUserByEmail reads a user record by e-mail address (normalised here) from the local state.
func (s *Service) getUserByEmail(email string) (userRecord, uint64, error) {
	norm, err := NormalizeEmail(email)
	if err != nil {
		return userRecord{}, 0, userErr(err)
	}
	item, err := s.store.Get(emailKey(norm))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return userRecord{}, 0, userErr(fmt.Errorf("user %s: %w", norm, ErrNotFound))
	}
	if err != nil {
		return userRecord{}, 0, fmt.Errorf("read user %s: %w", norm, err)
	}
	return s.getUser(userid.ID(item.Value))
}

// ByEmail returns the user with this e-mail address (normalised first), from the local state;
// ErrNotFound (in a *UserError) if there is none.
func (s *Service) ByEmail(ctx context.Context, email string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	rec, _, err := s.getUserByEmail(email)
	return rec.User, err
}

// ByID returns the user with this ID, from the local state; ErrNotFound if there is none.
func (s *Service) ByID(ctx context.Context, id userid.ID) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	rec, _, err := s.getUser(id)
	return rec.User, err
}

// MailContact returns how to mail the user with this ID: their display name ("" for none),
// e-mail address and language, from the local state; ErrNotFound if there is none. It lets
// transfer's use cases mail a sender (a receipt, an infected-file notice) without knowing
// account (transfer.Contacts).
func (s *Service) MailContact(ctx context.Context, id userid.ID) (name, email, lang string, err error) {
	u, err := s.ByID(ctx, id)
	if err != nil {
		return "", "", "", err
	}
	return u.Name, u.Email, string(u.Language), nil
}

// List returns every user, oldest first (IDs are UUIDv7), from the local state.
func (s *Service) List(ctx context.Context) ([]User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var users []User
	err := s.store.Scan([]byte(userPrefix), func(it raftfsm.Item) error {
		var rec userRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		users = append(users, rec.User)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// maxRetries bounds the read-modify-write loops that retry on a conflict.
const maxRetries = 8

// updateUser applies change to the user with this e-mail address and commits it, conditional
// on the version it read, retrying on conflict. change returns the audit details, or an error
// to stop. It returns the user as committed.
func (s *Service) updateUser(ctx context.Context, email, action string, change func(*userRecord) (map[string]any, error)) (User, error) {
	for range maxRetries {
		rec, version, err := s.getUserByEmail(email)
		if err != nil {
			return User{}, err
		}
		before := rec.User
		details, err := change(&rec)
		if err != nil {
			return User{}, err
		}
		guard, err := s.supervisorGuard(before, &rec.User) // manage.go
		if err != nil {
			return User{}, err
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return User{}, fmt.Errorf("%s %s: %w", action, rec.ID, err)
		}
		_, err = s.store.Propose(ctx, raftfsm.Batch{
			Conds: append(guard, raftfsm.Cond{Kind: raftfsm.CondVersion, Key: userKey(rec.ID), Version: version}),
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: userKey(rec.ID), Value: val}},
			Audit: s.audit(ctx, action, string(rec.ID), details),
		})
		if errors.Is(err, raftfsm.ErrConflict) {
			continue
		}
		if err != nil {
			return User{}, fmt.Errorf("%s %s: %w", action, rec.ID, err)
		}
		return rec.User, nil
	}
	return User{}, fmt.Errorf("%s %s: still conflicting after %d attempts: %w: %w", action, email, maxRetries, ErrUnavailable, raftfsm.ErrConflict)
}

// Disable disables the user with this e-mail address: from the moment it returns, on every
// node, their password, sessions and tokens are refused (those checks read linearizably).
// Disabling a disabled user is not an error.
func (s *Service) Disable(ctx context.Context, email string) (User, error) {
	return s.updateUser(ctx, email, "user.disable", func(r *userRecord) (map[string]any, error) {
		r.Disabled = true
		return nil, nil
	})
}

// Enable enables the user with this e-mail address again.
func (s *Service) Enable(ctx context.Context, email string) (User, error) {
	return s.updateUser(ctx, email, "user.enable", func(r *userRecord) (map[string]any, error) {
		r.Disabled = false
		return nil, nil
	})
}

// SetPassword sets the password the user with this e-mail address chose (checked against the
// policy: ErrWeakPassword) and clears must-change-password. Every session and token of the
// user ends with it, on every node, but the session whose token is keepSession (the one the
// change was made from; "" keeps none).
func (s *Service) SetPassword(ctx context.Context, email, password, keepSession string) error {
	if err := s.checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return s.changePassword(ctx, email, "user.password", hash, false, keepSession)
}

// ResetPassword gives the user with this e-mail address a generated password, returned to be
// shown once, which they must change at their next login. Every session and token of the
// user ends with it, on every node.
func (s *Service) ResetPassword(ctx context.Context, email string) (string, error) {
	password := GeneratePassword()
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return "", fmt.Errorf("reset password: %w", err)
	}
	if err := s.changePassword(ctx, email, "user.password_reset", hash, true, ""); err != nil {
		return "", err
	}
	return password, nil
}

// changePassword stores a new password hash and moves the user to a new generation, which
// ends every session and token opened before (Session and AuthenticateToken compare
// generations; the tokens are deleted in the same batch); the session of keepSession, if it
// is the user's, moves along and lives on. Conditional on the versions read, retried on
// conflict.
func (s *Service) changePassword(ctx context.Context, email, action, hash string, mustChange bool, keepSession string) error {
	for range maxRetries {
		rec, version, err := s.getUserByEmail(email)
		if err != nil {
			return err
		}
		rec.PasswordHash, rec.MustChangePassword = hash, mustChange
		rec.Generation++
		val, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("%s %s: %w", action, rec.ID, err)
		}
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: userKey(rec.ID), Version: version}},
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: userKey(rec.ID), Value: val}},
		}
		tokenOps, err := s.tokenDeletes(rec.ID)
		revoked := len(tokenOps) / 2
		b.Ops = append(b.Ops, tokenOps...)
		if err != nil {
			return fmt.Errorf("%s %s: list tokens: %w", action, rec.ID, err)
		}
		kept := ""
		if h, ok := hashSecret(keepSession); ok {
			item, err := s.store.Get(sessionKey(h))
			var sess Session
			if err == nil && json.Unmarshal(item.Value, &sess) == nil && sess.UserID == rec.ID {
				sess.Generation = rec.Generation
				sv, err := json.Marshal(sess)
				if err != nil {
					return fmt.Errorf("%s %s: %w", action, rec.ID, err)
				}
				kept = sess.ID
				b.Conds = append(b.Conds, raftfsm.Cond{Kind: raftfsm.CondVersion, Key: sessionKey(h), Version: item.Version})
				b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: sessionKey(h), Value: sv})
			}
		}
		b.Audit = s.audit(ctx, action, string(rec.ID), map[string]any{"tokens_revoked": revoked, "session_kept": kept})
		_, err = s.store.Propose(ctx, b)
		if errors.Is(err, raftfsm.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", action, rec.ID, err)
		}
		s.logger.Info("password changed: other sessions and tokens ended", logUserID, rec.ID, "tokens_revoked", revoked)
		return nil
	}
	return fmt.Errorf("%s %s: still conflicting after %d attempts: %w: %w", action, email, maxRetries, ErrUnavailable, raftfsm.ErrConflict)
}

// SetRole changes the role of the user with this e-mail address.
func (s *Service) SetRole(ctx context.Context, email string, role Role) (User, error) {
	if _, err := role.MarshalText(); err != nil {
		return User{}, userErr(err)
	}
	return s.updateUser(ctx, email, "user.role", func(r *userRecord) (map[string]any, error) {
		r.Role = role
		return map[string]any{"role": role.String()}, nil
	})
}
