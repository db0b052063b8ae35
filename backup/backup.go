// Package backup reads and writes Valise backup files: a metadata snapshot, the cluster's
// keys and a manifest, encrypted as a whole with age and signed with the cluster's Ed25519
// key.
//
// STUB (issue 19): the signatures below are the contract; the bodies are written on branch
// h-core. Consumers code against them.
package backup

import (
	"errors"
	"io"
	"time"

	"valise/keyring"

	_ "filippo.io/age" // the format is age; the body lands on h-core
)

// Errors of this package; test with errors.Is. Their messages say what to do.
var (
	ErrNotBackup     = errors.New("not a Valise backup file")
	ErrWrongSecret   = errors.New("wrong passphrase or identity for this backup")
	ErrCorrupt       = errors.New("backup file damaged or truncated")
	ErrBadSignature  = errors.New("backup signature does not verify")
	ErrUntrustedKey  = errors.New("backup signed by another key than the one expected")
	ErrBadProtection = errors.New("give exactly one of a passphrase and an age recipient")
)

// Manifest describes a backup; it is readable before the snapshot.
type Manifest struct {
	Format      int       `json:"format"` // 1
	ClusterID   string    `json:"cluster_id"`
	NodeID      string    `json:"node_id"` // the node that took it
	Index       uint64    `json:"index"`   // the applied index of the snapshot
	Term        uint64    `json:"term"`
	JournalSeq  uint64    `json:"journal_seq"`
	JournalHash string    `json:"journal_hash"` // hex
	JournalSig  []byte    `json:"journal_sig"`  // Ed25519 signature of the head's canonical bytes
	Nodes       []Node    `json:"nodes"`
	Layout      string    `json:"layout"`
	Created     time.Time `json:"created"`
	Version     string    `json:"version"`
	SigningKey  string    `json:"signing_key"` // keyring.SigningFingerprint of the signing key
}

// Node is a node of the cluster at backup time.
type Node struct {
	ID      string   `json:"id"`
	Site    string   `json:"site"`
	Address string   `json:"address"`
	State   string   `json:"state"`
	Disks   []string `json:"disks"`
}

// Protection encrypts a backup: exactly one of Passphrase and Recipient.
type Protection struct {
	Passphrase []byte
	Recipient  string // an age X25519 public key, "age1…"
}

// Unlock decrypts a backup: Passphrase, or Identity (the content of an age identity file).
type Unlock struct {
	Passphrase []byte
	Identity   []byte
}

// Write writes a whole backup to w: the manifest, keys and the snapshot snap writes, encrypted
// with age under p and signed with keys' signing key (m.SigningKey is set from it). Memory
// stays flat whatever snap writes.
func Write(w io.Writer, p Protection, m Manifest, keys keyring.Bundle, snap func(io.Writer) error) error {
	return errors.New("not yet")
}

// Reader reads a backup: Manifest and Keys at once, then the snapshot stream, then Finish.
type Reader struct{}

// Open decrypts r with u and reads the manifest and the keys.
func Open(r io.Reader, u Unlock) (*Reader, error) { return nil, errors.New("not yet") }

// Manifest returns the backup's manifest (not yet authenticated before Finish).
func (r *Reader) Manifest() Manifest { return Manifest{} }

// Keys returns the key material (not yet authenticated before Finish). Never log it.
func (r *Reader) Keys() keyring.Bundle { return keyring.Bundle{} }

// Snapshot returns the snapshot stream; read it to its end before Finish.
func (r *Reader) Snapshot() io.Reader { return nil }

// Finish reads what follows the snapshot, checks that nothing was cut or changed and that the
// signature verifies with the signing key the backup carries, and, when expectKey is not
// empty, that this key's fingerprint is expectKey (ErrUntrustedKey otherwise).
func (r *Reader) Finish(expectKey string) error { return errors.New("not yet") }
