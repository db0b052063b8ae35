package node

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"

	"valise/account"
	"valise/transfer"
)

// linkHasher hashes link passwords with Argon2id in account's PHC form and at account's
// default cost, with its own semaphore bounding the hashes that run at once. (account keeps
// its hasher unexported; when it exports one, this adapter goes.)
type linkHasher struct {
	cfg account.PasswordConfig
	sem chan struct{} // one token per running hash
}

var _ transfer.PasswordHasher = (*linkHasher)(nil)

func newLinkHasher(cfg account.PasswordConfig) *linkHasher {
	return &linkHasher{cfg: cfg, sem: make(chan struct{}, max(1, cfg.MaxConcurrent))}
}

// derive runs Argon2id once the semaphore lets it, or returns ctx's error.
func (h *linkHasher) derive(ctx context.Context, password string, p account.PHC) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.sem }()
	return argon2.IDKey([]byte(password), p.Salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(p.Key))), nil
}

// HashPassword implements transfer.PasswordHasher.
func (h *linkHasher) HashPassword(ctx context.Context, password string) (string, error) {
	p := account.PHC{MemoryKiB: h.cfg.MemoryKiB, Iterations: h.cfg.Iterations, Parallelism: h.cfg.Parallelism,
		Salt: make([]byte, 16), Key: make([]byte, 32)}
	if _, err := rand.Read(p.Salt); err != nil {
		return "", fmt.Errorf("salt a link password: %w", err)
	}
	key, err := h.derive(ctx, password, p)
	if err != nil {
		return "", err
	}
	p.Key = key
	return p.String(), nil
}

// VerifyPassword implements transfer.PasswordHasher.
func (h *linkHasher) VerifyPassword(ctx context.Context, password, hash string) (bool, error) {
	p, err := account.ParsePHC(hash)
	if err != nil {
		return false, err
	}
	key, err := h.derive(ctx, password, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
}
