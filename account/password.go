package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Bounds of the Argon2id parameters ParsePHC accepts. They keep a stored hash from asking for
// absurd memory or time; the defaults sit far below them, with room to raise the cost later.
const (
	maxPHCMemory  = 256 * 1024 // KiB: 256 MiB
	maxPHCTime    = 32
	maxPHCThreads = 16
	minPHCSalt    = 8
	maxPHCSalt    = 64
	minPHCKey     = 16
	maxPHCKey     = 64

	saltLen = 16
	keyLen  = 32

	// MaxPasswordLen bounds a password's length in bytes.
	MaxPasswordLen = 1024
)

// PHC is a parsed Argon2id hash in PHC string form:
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<key>, salt and key in standard
// base64 without padding.
type PHC struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	Salt        []byte
	Key         []byte
}

// String encodes h in PHC string form.
func (h PHC) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.MemoryKiB, h.Iterations, h.Parallelism, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// ParsePHC parses an Argon2id PHC string, as String writes it. It returns an error wrapping
// ErrBadPHC for any other algorithm or version, a different parameter order, parameters out
// of bounds (memory over 256 MiB, time over 32, lanes over 16, salt of 8 to 64 bytes, key of
// 16 to 64 bytes) or bad base64.
func ParsePHC(s string) (PHC, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return PHC{}, fmt.Errorf("%w: want 5 '$'-separated fields", ErrBadPHC)
	}
	if parts[1] != "argon2id" {
		return PHC{}, fmt.Errorf("%w: algorithm %q, want argon2id", ErrBadPHC, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return PHC{}, fmt.Errorf("%w: version %q", ErrBadPHC, parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return PHC{}, fmt.Errorf("%w: want m, t and p", ErrBadPHC)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return PHC{}, fmt.Errorf("%w: parameter %d, want %s=<n>", ErrBadPHC, i+1, name)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return PHC{}, fmt.Errorf("%w: parameter %s: %v", ErrBadPHC, name, err)
		}
		vals[i] = n
	}
	h := PHC{MemoryKiB: uint32(vals[0]), Iterations: uint32(vals[1])}
	if vals[2] < 1 || vals[2] > maxPHCThreads {
		return PHC{}, fmt.Errorf("%w: p=%d out of 1..%d", ErrBadPHC, vals[2], maxPHCThreads)
	}
	h.Parallelism = uint8(vals[2])
	if h.MemoryKiB < 8*uint32(h.Parallelism) || h.MemoryKiB > maxPHCMemory {
		return PHC{}, fmt.Errorf("%w: m=%d out of bounds", ErrBadPHC, h.MemoryKiB)
	}
	if h.Iterations < 1 || h.Iterations > maxPHCTime {
		return PHC{}, fmt.Errorf("%w: t=%d out of 1..%d", ErrBadPHC, h.Iterations, maxPHCTime)
	}
	b64 := base64.RawStdEncoding.Strict()
	var err error
	if h.Salt, err = b64.DecodeString(parts[4]); err != nil || len(h.Salt) < minPHCSalt || len(h.Salt) > maxPHCSalt {
		return PHC{}, fmt.Errorf("%w: salt", ErrBadPHC)
	}
	if h.Key, err = b64.DecodeString(parts[5]); err != nil || len(h.Key) < minPHCKey || len(h.Key) > maxPHCKey {
		return PHC{}, fmt.Errorf("%w: key", ErrBadPHC)
	}
	return h, nil
}

// hasher runs Argon2id with a cap on concurrent hashes and on those waiting for a slot.
type hasher struct {
	cfg     PasswordConfig
	sem     chan struct{} // one token per running hash; capacity cfg.MaxConcurrent
	waiting atomic.Int64  // hashes waiting for a token
	onHash  func()        // Config.OnHash; may be nil
	// dummy is a hash of a random password with cfg's cost: verifying against it costs what
	// a real check costs, so an unknown e-mail address is not told apart by timing.
	dummy PHC
}

func newHasher(cfg PasswordConfig, onHash func()) *hasher {
	h := &hasher{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), onHash: onHash}
	h.dummy = PHC{MemoryKiB: cfg.MemoryKiB, Iterations: cfg.Iterations, Parallelism: cfg.Parallelism,
		Salt: make([]byte, saltLen), Key: make([]byte, keyLen)}
	return h
}

// derive runs Argon2id once the semaphore lets it. It returns ErrBusy at once when
// cfg.MaxQueue hashes already wait, or after waiting cfg.MaxWait; ctx's error when ctx ends
// first.
func (h *hasher) derive(ctx context.Context, password string, p PHC) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	default:
		if h.waiting.Add(1) > int64(h.cfg.MaxQueue) {
			h.waiting.Add(-1)
			return nil, fmt.Errorf("wait to hash password: %d already waiting: %w", h.cfg.MaxQueue, ErrBusy)
		}
		t := time.NewTimer(h.cfg.MaxWait)
		select {
		case h.sem <- struct{}{}:
			h.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			h.waiting.Add(-1)
			return nil, fmt.Errorf("wait to hash password: no slot within %v: %w", h.cfg.MaxWait, ErrBusy)
		case <-ctx.Done():
			h.waiting.Add(-1)
			t.Stop()
			return nil, fmt.Errorf("wait to hash password: %w", ctx.Err())
		}
	}
	defer func() { <-h.sem }()
	if h.onHash != nil {
		h.onHash()
	}
	return argon2.IDKey([]byte(password), p.Salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(p.Key))), nil
}

// hash returns password's Argon2id hash with a fresh salt, in PHC form.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	p := PHC{MemoryKiB: h.cfg.MemoryKiB, Iterations: h.cfg.Iterations, Parallelism: h.cfg.Parallelism,
		Salt: make([]byte, saltLen), Key: make([]byte, keyLen)}
	if _, err := rand.Read(p.Salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, p)
	if err != nil {
		return "", err
	}
	p.Key = key
	return p.String(), nil
}

// verify reports whether password matches the PHC hash stored, comparing in constant time.
// An empty stored hash (no password set) runs the dummy hash and reports false.
func (h *hasher) verify(ctx context.Context, password, stored string) (bool, error) {
	if stored == "" {
		_, err := h.derive(ctx, password, h.dummy)
		return false, err
	}
	p, err := ParsePHC(stored)
	if err != nil {
		return false, err
	}
	key, err := h.derive(ctx, password, p)
	if err != nil {
		return false, err
	}
	if h.cheaper(p) { // a generated password's hash (import.go): cost what a real check does
		if _, err := h.derive(ctx, password, h.dummy); err != nil {
			return false, err
		}
	}
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
}

// checkPassword applies the policy to a password a person chose.
func (s *Service) checkPassword(password string) error {
	if len(password) > MaxPasswordLen {
		return userErr(fmt.Errorf("%w: longer than %d bytes", ErrWeakPassword, MaxPasswordLen))
	}
	if !utf8.ValidString(password) {
		return userErr(fmt.Errorf("%w: not UTF-8", ErrWeakPassword))
	}
	if n := utf8.RuneCountInString(password); n < s.cfg.Password.MinLength {
		return userErr(fmt.Errorf("%w: %d characters, want at least %d", ErrWeakPassword, n, s.cfg.Password.MinLength))
	}
	return nil
}

// GeneratePassword returns a random password of 26 base32 characters (130 bits), for a new
// user or a reset: strong, and easy to read out or type.
func GeneratePassword() string { return rand.Text() }

// PasswordHasher hashes and verifies passwords that are not users' own — a send's link
// password — with the Service's Argon2id cost, in the same PHC form, sharing its bound on
// concurrent hashes (PasswordConfig.MaxConcurrent), so link checks and logins together never
// run more Argon2 instances than the node allows. It implements transfer.PasswordHasher. It
// applies no password policy: the caller decides what a link password may be.
type PasswordHasher struct {
	h *hasher
}

// PasswordHasher returns a hasher sharing s's Argon2id parameters and semaphore.
func (s *Service) PasswordHasher() *PasswordHasher { return &PasswordHasher{h: s.hasher} }

// HashPassword returns password's Argon2id hash with a fresh salt, in PHC form. It waits for a
// free hashing slot, or returns ctx's error.
func (p *PasswordHasher) HashPassword(ctx context.Context, password string) (string, error) {
	return p.h.hash(ctx, password)
}

// VerifyPassword reports, comparing in constant time, whether password matches hash. It
// returns an error wrapping ErrBadPHC for a malformed hash, or ctx's error while waiting for a
// hashing slot; an empty hash costs a full hash and matches nothing.
func (p *PasswordHasher) VerifyPassword(ctx context.Context, password, hash string) (bool, error) {
	return p.h.verify(ctx, password, hash)
}
