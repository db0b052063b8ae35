package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"valise/backup"
	"valise/keyring"
	"valise/raftfsm"
)

// Prefixes of the records a backup report counts (the keys of account and transfer).
const (
	countUserPrefix = "account/user/"
	countSendPrefix = "transfer/send/"
	countFilePrefix = "transfer/file/"
)

// Unlock is what decrypts a backup: a passphrase, or an age identity file's content. It is
// backup.Unlock, named here for the command line, which imports node only.
type Unlock = backup.Unlock

// BackupReport is what VerifyBackup found in a backup file, as `backup verify` prints it.
type BackupReport struct {
	Cluster string    `json:"cluster"`
	Node    string    `json:"node"` // the node that took it
	Created time.Time `json:"created"`
	Version string    `json:"version"`
	Layout  string    `json:"layout"`
	Nodes   int       `json:"nodes"` // nodes of the cluster at backup time
	Index   uint64    `json:"index"` // the applied index of the metadata it holds
	Term    uint64    `json:"term"`
	// JournalEntries were walked, each linked to the one before; the last is the head
	// JournalHeadSeq, whose signature verified with SigningKey.
	JournalEntries  uint64 `json:"journal_entries"`
	JournalHeadSeq  uint64 `json:"journal_head_seq"`
	JournalHeadHash string `json:"journal_head_hash"`
	// SigningKey is the fingerprint of the key that signed the backup and the journal head.
	SigningKey string `json:"signing_key"`
	Records    uint64 `json:"records"`
	Users      uint64 `json:"users"`
	Sends      uint64 `json:"sends"`
	Files      uint64 `json:"files"`
}

// ErrBackupMismatch is wrapped by VerifyBackup when a backup's manifest does not describe
// the snapshot it carries.
var ErrBackupMismatch = errors.New("backup manifest does not match its snapshot")

// VerifyBackup reads a whole backup file from r, offline: it decrypts it with u, checks the
// snapshot's framing and checksums and walks the journal chain inside, checks the backup's
// signature (and, when expectKey is not empty, that the signing key is that one), that the
// manifest's journal head is the snapshot's and that its signature verifies with the signing
// key the backup carries. It returns what the backup holds, or the first fault.
func VerifyBackup(r io.Reader, u Unlock, expectKey string) (BackupReport, error) {
	var rep BackupReport
	br, err := backup.Open(r, u)
	if err != nil {
		return rep, err
	}
	m := br.Manifest()
	sr, serr := raftfsm.CheckSnapshot(br.Snapshot(), func(it raftfsm.Item) error {
		switch {
		case bytes.HasPrefix(it.Key, []byte(countUserPrefix)):
			rep.Users++
		case bytes.HasPrefix(it.Key, []byte(countSendPrefix)):
			rep.Sends++
		case bytes.HasPrefix(it.Key, []byte(countFilePrefix)):
			rep.Files++
		}
		return nil
	})
	if serr != nil {
		// A damaged file breaks the snapshot's stream first: what the backup's own checks
		// say (damaged, truncated, bad signature) names the fault better.
		_, _ = io.Copy(io.Discard, br.Snapshot())
		if ferr := br.Finish(expectKey); ferr != nil {
			return rep, ferr
		}
		return rep, fmt.Errorf("the snapshot inside the backup does not hold: %w", serr)
	}
	if err := br.Finish(expectKey); err != nil {
		return rep, err
	}
	// From here the manifest and the keys are authenticated.
	keys := br.Keys()
	if len(keys.SigningSeed) != ed25519.SeedSize {
		return rep, fmt.Errorf("%w: the signing key it carries is %d bytes", backup.ErrCorrupt, len(keys.SigningSeed))
	}
	pub := ed25519.NewKeyFromSeed(keys.SigningSeed).Public().(ed25519.PublicKey)
	rep = BackupReport{
		Cluster: m.ClusterID, Node: m.NodeID, Created: m.Created, Version: m.Version, Layout: m.Layout,
		Nodes: len(m.Nodes), Index: m.Index, Term: m.Term,
		JournalEntries: sr.JournalEntries, JournalHeadSeq: sr.Head.Seq, JournalHeadHash: hex.EncodeToString(sr.Head.Hash[:]),
		SigningKey: keyring.KeyFingerprint(pub), Records: sr.Records,
		Users: rep.Users, Sends: rep.Sends, Files: rep.Files,
	}
	switch {
	case m.SigningKey != rep.SigningKey:
		return rep, fmt.Errorf("%w: it names the signing key %s but carries %s", ErrBackupMismatch, m.SigningKey, rep.SigningKey)
	case sr.Applied != m.Index:
		return rep, fmt.Errorf("%w: it says index %d, the snapshot holds %d", ErrBackupMismatch, m.Index, sr.Applied)
	case sr.Head.Seq != m.JournalSeq || rep.JournalHeadHash != m.JournalHash:
		return rep, fmt.Errorf("%w: it says journal head %d (%s), the snapshot's is %d (%s)", ErrBackupMismatch, m.JournalSeq, m.JournalHash, sr.Head.Seq, rep.JournalHeadHash)
	case !ed25519.Verify(pub, sr.Head.Bytes(), m.JournalSig):
		return rep, fmt.Errorf("%w: the journal head's signature does not verify with the backup's signing key", backup.ErrBadSignature)
	}
	return rep, nil
}
