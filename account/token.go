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

// Token is a personal access token for the API, without its secret: the secret is returned
// once, by CreateToken, and only its SHA-256 is stored.
type Token struct {
	ID      string    `json:"id"` // UUIDv7: what revoke takes
	UserID  userid.ID `json:"user_id"`
	Name    string    `json:"name"` // the owner's label: "laptop", "backup script"
	Created time.Time `json:"created"`
}

// tokenRecord is a token as stored.
type tokenRecord struct {
	Token
	Hash string `json:"hash"` // hex SHA-256 of the secret part
	// Generation is the user's password generation the token was made under: any other
	// refuses it (changePassword deletes the tokens, this catches one made meanwhile).
	Generation int `json:"generation,omitempty"`
}

const maxTokenName = 100

// CreateToken creates a personal access token for userID, labelled name, and returns it with
// its secret "vls_…" (shown once: it cannot be read back). It fails with ErrNotFound for an
// unknown user, ErrDisabled for a disabled one, ErrInvalidInput for a bad name.
func (s *Service) CreateToken(ctx context.Context, userID userid.ID, name string) (Token, string, error) {
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > maxTokenName || !utf8.ValidString(name) ||
		strings.IndexFunc(name, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) }) >= 0 {
		return Token{}, "", userErr(fmt.Errorf("%w: token name", ErrInvalidInput))
	}
	rec, userVersion, err := s.getUser(userID)
	if err != nil {
		return Token{}, "", err
	}
	if rec.Disabled {
		return Token{}, "", userErr(fmt.Errorf("create token for %s: %w", userID, ErrDisabled))
	}
	secret, err := newSecret()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	hash, _ := hashSecret(secret)
	id, err := uuid.NewV7()
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: new ID: %w", err)
	}
	tok := tokenRecord{Token: Token{ID: id.String(), UserID: userID, Name: name, Created: s.now()}, Hash: hash, Generation: rec.Generation}
	val, err := json.Marshal(tok)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{
			{Kind: raftfsm.CondAbsent, Key: tokenKey(tok.ID)},
			{Kind: raftfsm.CondAbsent, Key: tokenHashKey(hash)},
			// The user was not disabled (nor deleted) in between.
			{Kind: raftfsm.CondVersion, Key: userKey(userID), Version: userVersion},
		},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpPut, Key: tokenKey(tok.ID), Value: val},
			{Kind: raftfsm.OpPut, Key: tokenHashKey(hash), Value: []byte(tok.ID)},
		},
		Audit: s.audit(ctx, "token.create", string(userID), map[string]any{"token_id": tok.ID, "name": name}),
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token for %s: %w", userID, err)
	}
	return tok.Token, TokenPrefix + secret, nil
}

// getToken reads a token record by ID, with its version.
func (s *Service) getToken(id string) (tokenRecord, uint64, error) {
	return getRecord[tokenRecord](s, tokenKey(id), "token "+id)
}

// TokenByID returns the token with this ID (without secret); ErrNotFound if there is none.
// The API checks its UserID before letting a user revoke it.
func (s *Service) TokenByID(ctx context.Context, id string) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	rec, _, err := s.getToken(id)
	return rec.Token, err
}

// ListTokens returns userID's tokens, oldest first, without their secrets.
func (s *Service) ListTokens(ctx context.Context, userID userid.ID) ([]Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var toks []Token
	err := s.store.Scan([]byte(tokenPrefix), func(it raftfsm.Item) error {
		var rec tokenRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		if rec.UserID == userID {
			toks = append(toks, rec.Token)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", userID, err)
	}
	return toks, nil
}

// RevokeToken deletes the token with this ID: from the moment it returns it authenticates
// nobody, on any node. ErrNotFound if there is no such token.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	rec, version, err := s.getToken(id)
	if err != nil {
		return err
	}
	_, err = s.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: tokenKey(id), Version: version}},
		Ops: []raftfsm.Op{
			{Kind: raftfsm.OpDelete, Key: tokenKey(id)},
			{Kind: raftfsm.OpDelete, Key: tokenHashKey(rec.Hash)},
		},
		Audit: s.audit(ctx, "token.revoke", string(rec.UserID), map[string]any{"token_id": id}),
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return userErr(fmt.Errorf("revoke token %s: %w", id, ErrNotFound))
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// AuthenticateToken returns the user and token a bearer token "vls_…" belongs to, after a
// linearizable read, so a token revoked or a user disabled on any node a moment ago is
// refused. It fails with ErrInvalidToken for a malformed, unknown or revoked token (a
// password change or reset revokes them all) and
// ErrDisabled for a disabled user (inside a *UserError).
func (s *Service) AuthenticateToken(ctx context.Context, bearer string) (User, Token, error) {
	secret, ok := splitToken(bearer)
	hash, well := hashSecret(secret)
	if !ok || !well {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token: %w: malformed", ErrInvalidToken))
	}
	if err := s.store.LinearizableRead(ctx); err != nil {
		return User{}, Token{}, fmt.Errorf("authenticate token: %w", err)
	}
	item, err := s.store.Get(tokenHashKey(hash))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token: %w", ErrInvalidToken))
	}
	if err != nil {
		return User{}, Token{}, fmt.Errorf("authenticate token: %w", err)
	}
	tok, _, err := s.getToken(string(item.Value))
	if errors.Is(err, ErrNotFound) {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token: %w", ErrInvalidToken))
	}
	if err != nil {
		return User{}, Token{}, err
	}
	if tok.Hash != hash {
		// The index and the record disagree: never trust the index alone.
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token %s: %w: hash mismatch", tok.ID, ErrInvalidToken))
	}
	rec, _, err := s.getUser(tok.UserID)
	if errors.Is(err, ErrNotFound) {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token %s: %w: user gone", tok.ID, ErrInvalidToken))
	}
	if err != nil {
		return User{}, Token{}, err
	}
	if rec.Disabled {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token %s: %w", tok.ID, ErrDisabled))
	}
	if tok.Generation != rec.Generation {
		return User{}, Token{}, userErr(fmt.Errorf("authenticate token %s: %w: made before a password change", tok.ID, ErrInvalidToken))
	}
	return rec.User, tok.Token, nil
}
