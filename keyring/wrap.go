package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Wrapped data key layout (version 1):
//
//	0x01 | nonce (12 bytes, random) | AES-256-GCM(KEK, plain key) with its 16-byte tag
//
// The additional data is the version byte, a domain label and the file ID, so a wrapped key
// moved to another file's manifest does not open. Random 96-bit nonces are safe for far more
// wraps than a cluster makes (one per file, well under 2^32).
const (
	wrapVersion1 = 0x01
	kekSize      = 32
	nonceSize    = 12
	tagSize      = 16

	// MinDataKey and MaxDataKey bound the length of the data keys Wrap accepts.
	MinDataKey = 16
	MaxDataKey = 64

	wrapLabel = "valise/file-key/v1\x00"
)

// kek is the cluster key-encryption key, ready to seal.
type kek struct {
	aead cipher.AEAD
}

func newKEK(key []byte) (kek, error) {
	if len(key) != kekSize {
		return kek{}, fmt.Errorf("%w: key-encryption key is %d bytes, want %d", ErrBadKeyFile, len(key), kekSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return kek{}, fmt.Errorf("init key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return kek{}, fmt.Errorf("init key-encryption key: %w", err)
	}
	return kek{aead: aead}, nil
}

func wrapAD(version byte, fileID string) []byte {
	ad := make([]byte, 0, 1+len(wrapLabel)+len(fileID))
	ad = append(ad, version)
	ad = append(ad, wrapLabel...)
	return append(ad, fileID...)
}

// Wrap seals a file's data key under the cluster key-encryption key, bound to fileID: the
// result opens only with Unwrap and the same fileID. plainKey must be MinDataKey to
// MaxDataKey bytes long (ErrBadKey otherwise); it is not retained. Safe for concurrent use.
// ctx is honoured before any work; it leaves room for a key held elsewhere (a sealed or
// remote KEK) without an API change.
func (k *Keyring) Wrap(ctx context.Context, fileID string, plainKey []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(plainKey) < MinDataKey || len(plainKey) > MaxDataKey {
		return nil, fmt.Errorf("wrap key of file %s: %w: %d bytes", fileID, ErrBadKey, len(plainKey))
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plainKey)+tagSize)
	out[0] = wrapVersion1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("wrap key of file %s: nonce: %w", fileID, err)
	}
	return k.kek.aead.Seal(out, out[1:1+nonceSize], plainKey, wrapAD(wrapVersion1, fileID)), nil
}

// Unwrap opens a data key sealed by Wrap for fileID. It returns ErrUnwrap (wrapped) when the
// blob is malformed, was tampered with, was sealed under another KEK or for another file ID;
// it never panics, whatever the input. Safe for concurrent use.
func (k *Keyring) Unwrap(ctx context.Context, fileID string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(wrapped) < 1+nonceSize+tagSize+MinDataKey || len(wrapped) > 1+nonceSize+tagSize+MaxDataKey {
		return nil, fmt.Errorf("unwrap key of file %s: %w: %d bytes", fileID, ErrUnwrap, len(wrapped))
	}
	if wrapped[0] != wrapVersion1 {
		return nil, fmt.Errorf("unwrap key of file %s: %w: unknown version %d", fileID, ErrUnwrap, wrapped[0])
	}
	nonce := wrapped[1 : 1+nonceSize]
	plain, err := k.kek.aead.Open(nil, nonce, wrapped[1+nonceSize:], wrapAD(wrapVersion1, fileID))
	if err != nil {
		return nil, fmt.Errorf("unwrap key of file %s: %w: authentication failed", fileID, ErrUnwrap)
	}
	return plain, nil
}
