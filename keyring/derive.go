package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// deriveSalt is HKDF's salt for the keys derived from the key-encryption key: a fixed domain
// label, so that no derived key equals a key made any other way from the KEK.
const deriveSalt = "valise/derived-key/v1"

// DeriveKeySize is the length of the keys DeriveKey returns.
const DeriveKeySize = 32

// setKEK installs the cluster key-encryption key: the AEAD that wraps data keys, and the
// HKDF pseudo-random key that DeriveKey expands.
func (k *Keyring) setKEK(key []byte) error {
	var err error
	if k.kek, err = newKEK(key); err != nil {
		return err
	}
	if k.prk, err = hkdf.Extract(sha256.New, key, []byte(deriveSalt)); err != nil {
		return err
	}
	return nil
}

// DeriveKey returns a DeriveKeySize-byte key for one purpose, named by label (say
// "web/csrf"): HKDF-SHA256 of the cluster key-encryption key with label as info. Every node
// of the cluster derives the same key for the same label; keys for different labels are
// independent, and none reveals the KEK. Safe for concurrent use.
func (k *Keyring) DeriveKey(label string) []byte {
	out, err := hkdf.Expand(sha256.New, k.prk, label, DeriveKeySize)
	if err != nil {
		// Expand fails only for a length above 255 hash sizes, or in FIPS 140-only mode for
		// a key shorter than 112 bits: neither can happen with these constants.
		panic("keyring: derive key: " + err.Error())
	}
	return out
}
