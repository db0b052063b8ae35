// Package transfertest holds test doubles for the dependencies of package transfer that have
// no cheap real part in a test.
package transfertest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hasher is a transfer.PasswordHasher: Argon2id in PHC form, as account stores it, with
// parameters small enough (64 KiB, t=1) that tests hashing many link passwords stay fast.
// Never for production: account.Service.PasswordHasher is the real one.
type Hasher struct{}

// HashPassword returns pw's hash with a fresh salt.
func (Hasher) HashPassword(_ context.Context, pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// VerifyPassword reports whether pw matches hash, a string HashPassword made.
func (Hasher) VerifyPassword(_ context.Context, pw, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return false, errors.New("malformed hash")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false, errors.New("malformed hash")
	}
	got := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
