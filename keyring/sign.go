package keyring

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
)

// Sign returns the cluster signing key's Ed25519 signature of msg. Safe for concurrent use.
// Callers sign a canonical, domain-separated encoding (such as raftfsm.JournalHead.Bytes) so
// that a signature made for one purpose cannot be replayed for another.
func (k *Keyring) Sign(msg []byte) []byte {
	return ed25519.Sign(k.signing, msg)
}

// SignMessage is Sign with the error result that signer interfaces (raftfsm.HeadSigner, through
// the node's adapter) expect; with an in-memory key it never fails. A key held elsewhere (a
// sealed key not yet unsealed, a remote signer) would report its failure here.
func (k *Keyring) SignMessage(msg []byte) ([]byte, error) {
	return k.Sign(msg), nil
}

// PublicKey returns the cluster signing key's public half, with which anyone verifies journal
// heads and proofs (ed25519.Verify).
func (k *Keyring) PublicKey() ed25519.PublicKey {
	return k.signing.Public().(ed25519.PublicKey)
}

// Verify reports whether sig is the cluster signing key's signature of msg.
func (k *Keyring) Verify(msg, sig []byte) bool {
	return ed25519.Verify(k.PublicKey(), msg, sig)
}

// SigningFingerprint returns the fingerprint of the cluster signing key's public half,
// "SHA256:" then the unpadded standard base64 of its SHA-256 (as OpenSSH prints key
// fingerprints): what an operator writes down at init and gives `restore --expect-key`.
func (k *Keyring) SigningFingerprint() string { return KeyFingerprint(k.PublicKey()) }

// KeyFingerprint returns the fingerprint of an Ed25519 public key, as SigningFingerprint.
func KeyFingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}
