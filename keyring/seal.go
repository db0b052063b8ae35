package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealed value layout (version 1):
//
//	"\x00vs1" | nonce (12 bytes, random) | AES-256-GCM(key, value) with its 16-byte tag
//
// key is DeriveKey("valise/seal/" + purpose); the additional data is the magic, the purpose
// and the id (the metadata key), so a sealed value moved under another key or purpose does
// not open. The leading NUL tells a sealed value from the JSON records and settings written
// in clear before issue 16, which never start with one.
const sealMagic = "\x00vs1"

// ErrOpen is returned by Open for a sealed value that does not open: altered, sealed for
// another purpose or id, or under another cluster key.
var ErrOpen = errors.New("keyring: cannot open sealed value")

// IsSealed reports whether b is a value Seal produced (rather than one stored in clear).
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, []byte(sealMagic)) }

// Seal encrypts value under a key derived from the cluster key for purpose (say
// "notify/queue"), bound to id (the metadata key it is stored at), for values kept in the
// replicated metadata that must not be read from a stolen disk or backup: secret settings,
// mails carrying link tokens. Safe for concurrent use.
func (k *Keyring) Seal(purpose, id string, value []byte) ([]byte, error) {
	aead, err := k.sealAEAD(purpose)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(sealMagic)+nonceSize, len(sealMagic)+nonceSize+len(value)+tagSize)
	copy(out, sealMagic)
	if _, err := rand.Read(out[len(sealMagic):]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return aead.Seal(out, out[len(sealMagic):], value, sealAD(purpose, id)), nil
}

// Open returns the value Seal sealed for purpose and id. A value that IsSealed does not
// recognise is returned as it is: it was stored in clear, before sealing. ErrOpen for a
// sealed value that does not open.
func (k *Keyring) Open(purpose, id string, stored []byte) ([]byte, error) {
	if !IsSealed(stored) {
		return stored, nil
	}
	if len(stored) < len(sealMagic)+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: %s: too short", ErrOpen, id)
	}
	aead, err := k.sealAEAD(purpose)
	if err != nil {
		return nil, err
	}
	nonce := stored[len(sealMagic) : len(sealMagic)+nonceSize]
	v, err := aead.Open(nil, nonce, stored[len(sealMagic)+nonceSize:], sealAD(purpose, id))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrOpen, id)
	}
	return v, nil
}

func (k *Keyring) sealAEAD(purpose string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.DeriveKey("valise/seal/" + purpose))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(block)
}

func sealAD(purpose, id string) []byte {
	return []byte(sealMagic + purpose + "\x00" + id)
}
