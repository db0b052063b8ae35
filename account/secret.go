package account

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Session and access tokens are 256 random bits in unpadded base64url (43 characters); an
// access token carries TokenPrefix in front so that it is recognisable in a config file or a
// leaked log (and secret scanners can match it). Only their SHA-256 is stored: a stolen
// metadata copy yields no usable token. A plain hash suffices (no salt, no Argon2): the
// secrets are random and 256 bits long, so they cannot be guessed from their hash.
const (
	// TokenPrefix starts every personal access token.
	TokenPrefix = "vls_"

	secretBytes = 32
	secretLen   = 43 // base64url, no padding, of 32 bytes
)

// newSecret returns a fresh random secret.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret returns the hex SHA-256 of a well-formed secret, or false for anything that
// cannot be one (so a lookup never reaches the store with junk).
func hashSecret(secret string) (string, bool) {
	if len(secret) != secretLen {
		return "", false
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil || len(b) != secretBytes {
		return "", false
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:]), true
}

// splitToken returns the secret part of a personal access token.
func splitToken(token string) (string, bool) {
	return strings.CutPrefix(token, TokenPrefix)
}
