// Package backup reads and writes Valise backup files: a metadata snapshot, the cluster's
// keys and a manifest, encrypted as a whole with age and signed with the cluster's Ed25519
// key.
//
// # Format, version 1
//
// The file is an age file (filippo.io/age, binary, not armored) encrypted to a passphrase
// (scrypt) or to one X25519 recipient. Its plaintext is:
//
//	magic     the 16 bytes "VALISE-BACKUP 1\n"
//	manifest  4-byte big-endian length (at most 1 MiB), then the Manifest as JSON
//	keys      4-byte big-endian length (at most 64 KiB), then the keyring.Bundle as JSON
//	snapshot  chunks: 4-byte big-endian length (1 byte to 1 MiB), then that many bytes of the
//	          snapshot stream; a zero length ends it
//	trailer   the 64-byte Ed25519 signature, by the bundle's signing key, of
//	          "valise backup v1\x00" ‖ SHA-256(every plaintext byte before the trailer)
//
// and nothing after the trailer. The package never parses the snapshot stream: the chunks
// delimit it. Manifest.SigningKey is the signing key's fingerprint (keyring.KeyFingerprint).
//
// # Why both age and a signature
//
// age with a passphrase authenticates the file (only a holder of the passphrase can make
// one), but age with a public key authenticates nothing: anyone holding the operator's age
// public key could forge a backup carrying their own CA and keys. So the plaintext is signed
// with the cluster's signing key, the key travels inside, and the restorer compares its
// fingerprint with the one the operator wrote down (Finish's expectKey). The domain prefix
// keeps a backup signature from being taken for any other signature by that key (the journal
// head's has its own).
//
// # Reading
//
// Open decrypts and reads the manifest and keys; the caller reads the snapshot to its end,
// then calls Finish, which reads the trailer, checks that nothing follows and verifies the
// signature and the key. Nothing read is trusted before Finish returns nil. age authenticates
// each 64 KiB chunk of the ciphertext and its end, so a flipped bit or a truncation surfaces
// as ErrCorrupt on the read that meets it. Memory stays flat: everything streams through
// buffers of at most a chunk.
package backup

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"filippo.io/age"

	"valise/fault"
	"valise/keyring"
)

// Errors of this package; test with errors.Is. Their messages say what to do.
var (
	ErrNotBackup     = fault.New(fault.Unsupported, "not_backup", "not a Valise backup file: give the file that appliance backup wrote")
	ErrWrongSecret   = fault.New(fault.Forbidden, "backup_wrong_secret", "wrong passphrase or identity for this backup: give the passphrase or the age identity it was made for")
	ErrCorrupt       = fault.New(fault.Corrupted, "backup_corrupt", "backup file damaged or truncated: use another copy of the backup")
	ErrBadSignature  = fault.New(fault.Corrupted, "backup_bad_signature", "backup signature does not verify: the file was changed after it was made; use another copy")
	ErrUntrustedKey  = fault.New(fault.Forbidden, "backup_untrusted_key", "backup signed by another key than the one expected: it was not made by this cluster's key; check the fingerprint given")
	ErrBadProtection = fault.New(fault.Invalid, "backup_bad_protection", "give exactly one of a passphrase and an age recipient (age1…)")
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
	// ScryptWorkFactor replaces age's scrypt work factor (log2 N, 18: about a second) for a
	// passphrase when not zero. Nothing an operator runs sets it: tests lower it, since every
	// passphrase backup they write and read costs that second (many more under -race).
	ScryptWorkFactor int
}

// Unlock decrypts a backup: Passphrase, or Identity (the content of an age identity file).
type Unlock struct {
	Passphrase []byte
	Identity   []byte
}

// The plaintext format (package doc).
const (
	magic         = "VALISE-BACKUP 1\n"
	formatVersion = 1
	sigDomain     = "valise backup v1\x00"
	maxManifest   = 1 << 20
	maxKeys       = 64 << 10
	maxChunk      = 1 << 20
	writeChunk    = 64 << 10 // the chunks Write makes
	ageIntro      = "age-encryption.org/"
)

// Write writes a whole backup to w: the manifest, keys and the snapshot snap writes, encrypted
// with age under p and signed with keys' signing key (m.SigningKey is set from it). Memory
// stays flat whatever snap writes.
//
// On error what was written to w is not a readable backup (age's last chunk is missing):
// the caller removes it.
func Write(w io.Writer, p Protection, m Manifest, keys keyring.Bundle, snap func(io.Writer) error) error {
	rcpt, err := recipient(p)
	if err != nil {
		return err
	}
	if len(keys.SigningSeed) != ed25519.SeedSize {
		return fmt.Errorf("write backup: the signing key seed is %d bytes, want %d", len(keys.SigningSeed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(keys.SigningSeed)
	m.Format = formatVersion
	m.SigningKey = keyring.KeyFingerprint(priv.Public().(ed25519.PublicKey))
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("write backup: manifest: %w", err)
	}
	kj, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("write backup: keys: %w", err)
	}
	if len(mj) > maxManifest || len(kj) > maxKeys {
		return fmt.Errorf("write backup: manifest of %d bytes or keys of %d bytes over the limits (%d, %d)", len(mj), len(kj), maxManifest, maxKeys)
	}
	enc, err := age.Encrypt(w, rcpt)
	if err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	h := sha256.New()
	pw := &plainWriter{w: enc, h: h}
	pw.write([]byte(magic))
	pw.framed(mj)
	pw.framed(kj)
	if pw.err != nil {
		return fmt.Errorf("write backup: %w", pw.err)
	}
	cw := &chunkWriter{pw: pw, buf: make([]byte, 0, writeChunk)}
	if err := snap(cw); err != nil {
		return fmt.Errorf("write backup: snapshot: %w", err)
	}
	cw.flush()
	pw.write([]byte{0, 0, 0, 0}) // the end of the snapshot
	if pw.err != nil {
		return fmt.Errorf("write backup: %w", pw.err)
	}
	sig := ed25519.Sign(priv, signed(h))
	if _, err := enc.Write(sig); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}

// signed is what the trailer signs: the domain prefix and the plaintext's SHA-256.
func signed(h hash.Hash) []byte {
	return h.Sum([]byte(sigDomain))
}

// recipient checks p and returns its age recipient.
func recipient(p Protection) (age.Recipient, error) {
	switch {
	case len(p.Passphrase) > 0 && p.Recipient == "", len(p.Passphrase) == 0 && p.Recipient != "":
	default:
		return nil, ErrBadProtection
	}
	if p.Recipient != "" {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(p.Recipient))
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not an age public key: %v", ErrBadProtection, p.Recipient, err)
		}
		return r, nil
	}
	r, err := age.NewScryptRecipient(string(p.Passphrase))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProtection, err)
	}
	if p.ScryptWorkFactor > 0 {
		r.SetWorkFactor(p.ScryptWorkFactor)
	}
	return r, nil
}

// plainWriter writes plaintext into age and hashes it; it keeps the first error.
type plainWriter struct {
	w   io.Writer
	h   hash.Hash
	err error
}

func (p *plainWriter) write(b []byte) {
	if p.err != nil {
		return
	}
	p.h.Write(b)
	_, p.err = p.w.Write(b)
}

// framed writes b after its 4-byte length.
func (p *plainWriter) framed(b []byte) {
	p.write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	p.write(b)
}

// chunkWriter cuts what the snapshot writes into chunks of writeChunk bytes.
type chunkWriter struct {
	pw  *plainWriter
	buf []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.pw.err == nil {
		k := min(len(p), cap(c.buf)-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			c.flush()
		}
	}
	if c.pw.err != nil {
		return 0, c.pw.err
	}
	return n, nil
}

func (c *chunkWriter) flush() {
	if len(c.buf) > 0 {
		c.pw.framed(c.buf)
		c.buf = c.buf[:0]
	}
}

// Reader reads a backup: Manifest and Keys at once, then the snapshot stream, then Finish.
type Reader struct {
	src      io.Reader // the plaintext, its errors mapped to this package's
	h        hash.Hash // every plaintext byte read before the trailer
	manifest Manifest
	keys     keyring.Bundle
	snap     chunkReader
	finished bool
}

// Open decrypts r with u and reads the manifest and the keys.
func Open(r io.Reader, u Unlock) (*Reader, error) {
	id, err := identity(u)
	if err != nil {
		return nil, err
	}
	intro := make([]byte, len(ageIntro))
	n, err := io.ReadFull(r, intro)
	if err != nil || string(intro) != ageIntro {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("open backup: %w", err)
		}
		return nil, fmt.Errorf("%w (not an age file)", ErrNotBackup)
	}
	plain, err := age.Decrypt(io.MultiReader(strings.NewReader(string(intro[:n])), r), id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w: %v (or the file's header is damaged)", ErrWrongSecret, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return decode(plain)
}

// identity returns the age identities u gives.
func identity(u Unlock) (age.Identity, error) {
	switch {
	case len(u.Passphrase) > 0 && len(u.Identity) == 0:
		id, err := age.NewScryptIdentity(string(u.Passphrase))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrWrongSecret, err)
		}
		return id, nil
	case len(u.Passphrase) == 0 && len(u.Identity) > 0:
		ids, err := age.ParseIdentities(strings.NewReader(string(u.Identity)))
		if err != nil {
			return nil, fmt.Errorf("%w: the identity file does not parse: %v", ErrWrongSecret, err)
		}
		if len(ids) != 1 {
			return nil, fmt.Errorf("%w: the identity file holds %d identities, give one", ErrWrongSecret, len(ids))
		}
		return ids[0], nil
	}
	return nil, fmt.Errorf("give exactly one of a passphrase and an age identity file: %w", ErrWrongSecret)
}

// decode reads the plaintext's magic, manifest and keys; the snapshot and trailer are left
// to the Reader. Errors wrap ErrNotBackup or ErrCorrupt.
func decode(plain io.Reader) (*Reader, error) {
	r := &Reader{src: corruptReader{plain}, h: sha256.New()}
	r.snap.r = r
	head := make([]byte, len(magic))
	_, err := io.ReadFull(r.src, head)
	r.h.Write(head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err // damaged: corruptReader made it ErrCorrupt
	}
	if err != nil || string(head) != magic {
		if err == nil && strings.HasPrefix(string(head), "VALISE-BACKUP ") {
			return nil, fmt.Errorf("%w: format %q is not one this appliance reads (upgrade it)", ErrNotBackup, strings.TrimSpace(string(head[len("VALISE-BACKUP "):])))
		}
		return nil, fmt.Errorf("%w (an age file of something else)", ErrNotBackup)
	}
	mj, err := r.framed("manifest", maxManifest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mj, &r.manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	if r.manifest.Format != formatVersion {
		return nil, fmt.Errorf("%w: manifest format %d", ErrCorrupt, r.manifest.Format)
	}
	kj, err := r.framed("keys", maxKeys)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(kj, &r.keys); err != nil {
		return nil, fmt.Errorf("%w: keys: %v", ErrCorrupt, err)
	}
	if len(r.keys.SigningSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: the signing key seed is %d bytes", ErrCorrupt, len(r.keys.SigningSeed))
	}
	return r, nil
}

// read fills b from the plaintext and hashes it; a short read is ErrCorrupt.
func (r *Reader) read(b []byte) error {
	if _, err := io.ReadFull(r.src, b); err != nil {
		return truncated(err)
	}
	r.h.Write(b)
	return nil
}

// truncated maps a short read to ErrCorrupt.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends too early", ErrCorrupt)
	}
	return err
}

// length reads a 4-byte length.
func (r *Reader) length() (uint32, error) {
	var b [4]byte
	if err := r.read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// framed reads a length-prefixed part of at most limit bytes.
func (r *Reader) framed(what string, limit uint32) ([]byte, error) {
	n, err := r.length()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s of %d bytes, over %d", ErrCorrupt, what, n, limit)
	}
	b := make([]byte, n)
	if err := r.read(b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// corruptReader maps age's decryption errors to ErrCorrupt; io.EOF stays.
type corruptReader struct{ r io.Reader }

func (c corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return n, err
}

// chunkReader reads the snapshot's chunks as one stream.
type chunkReader struct {
	r    *Reader
	left uint32 // bytes left in the current chunk
	done bool   // the zero chunk was read
	err  error  // sticky
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.left == 0 {
		n, err := c.r.length()
		switch {
		case err != nil:
			c.err = fmt.Errorf("snapshot: %w", err)
			return 0, c.err
		case n > maxChunk:
			c.err = fmt.Errorf("%w: snapshot chunk of %d bytes, over %d", ErrCorrupt, n, maxChunk)
			return 0, c.err
		case n == 0:
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	p = p[:min(len(p), int(c.left))]
	n, err := io.ReadFull(c.r.src, p)
	c.r.h.Write(p[:n])
	c.left -= uint32(n)
	if err != nil {
		c.err = fmt.Errorf("snapshot: %w", truncated(err))
		if n > 0 {
			return n, nil // the error comes with the next Read
		}
		return 0, c.err
	}
	return n, nil
}

// Manifest returns the backup's manifest (not yet authenticated before Finish).
func (r *Reader) Manifest() Manifest { return r.manifest }

// Keys returns the key material (not yet authenticated before Finish). Never log it.
func (r *Reader) Keys() keyring.Bundle { return r.keys }

// Snapshot returns the snapshot stream; read it to its end before Finish. Its errors wrap
// ErrCorrupt when the file is damaged.
func (r *Reader) Snapshot() io.Reader { return &r.snap }

// Finish reads what follows the snapshot, checks that nothing was cut or changed and that the
// signature verifies with the signing key the backup carries, and, when expectKey is not
// empty, that this key's fingerprint is expectKey (ErrUntrustedKey otherwise).
//
// What is left of the snapshot is read (and checked) first. Finish may be called once.
func (r *Reader) Finish(expectKey string) error {
	if r.finished {
		return errors.New("backup: Finish called twice")
	}
	r.finished = true
	if _, err := io.Copy(io.Discard, &r.snap); err != nil {
		return err
	}
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := io.ReadFull(r.src, sig); err != nil {
		return fmt.Errorf("signature: %w", truncated(err))
	}
	var one [1]byte
	switch n, err := io.ReadFull(r.src, one[:]); {
	case n > 0:
		return fmt.Errorf("%w: data after the signature", ErrCorrupt)
	case err != io.EOF:
		return err
	}
	pub := ed25519.NewKeyFromSeed(r.keys.SigningSeed).Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, signed(r.h), sig) {
		return ErrBadSignature
	}
	fp := keyring.KeyFingerprint(pub)
	if r.manifest.SigningKey != fp {
		return fmt.Errorf("%w: the manifest names the key %s, the backup carries %s", ErrBadSignature, r.manifest.SigningKey, fp)
	}
	if expectKey != "" && expectKey != fp {
		return fmt.Errorf("%w: signed by %s, expected %s: this backup was not made by this cluster's key", ErrUntrustedKey, fp, expectKey)
	}
	return nil
}
