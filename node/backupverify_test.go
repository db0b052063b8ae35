package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"valise/backup"
	"valise/keyring"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// verifyFixture is a real snapshot stream (users, sends, files, a journal) and the keys and
// identity to wrap it in backups whose manifest the test chooses.
type verifyFixture struct {
	snap []byte
	info raftfsm.SnapshotInfo
	keys keyring.Bundle
	priv ed25519.PrivateKey
	id   *age.X25519Identity
}

func newVerifyFixture(t testing.TB) *verifyFixture {
	t.Helper()
	c := rafttest.NewCluster(t, 1)
	for _, k := range []string{countUserPrefix + "u1", countUserPrefix + "u2", countSendPrefix + "s1", countFilePrefix + "f1", countFilePrefix + "f2", countFilePrefix + "f3", "settings/x"} {
		c.ProposeLeader(t, rafttest.Put(k, "{}"))
	}
	sn, err := c.Store(c.Leader(t)).OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Create(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kr.Export()
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return &verifyFixture{snap: buf.Bytes(), info: sn.Info(), keys: keys, priv: ed25519.NewKeyFromSeed(keys.SigningSeed), id: id}
}

// manifest is the manifest the node would write for the fixture's snapshot.
func (f *verifyFixture) manifest() backup.Manifest {
	h := f.info.Head
	return backup.Manifest{
		Format: backupFormat, ClusterID: "c1", NodeID: "n1", Index: f.info.Index, Term: f.info.Term,
		JournalSeq: h.Seq, JournalHash: hex.EncodeToString(h.Hash[:]), JournalSig: ed25519.Sign(f.priv, h.Bytes()),
		Created: time.Now().UTC(), Version: "test",
	}
}

// verify wraps snap under m in a backup and verifies it.
func (f *verifyFixture) verify(t testing.TB, m backup.Manifest, snap []byte) (BackupReport, error) {
	var buf bytes.Buffer
	err := backup.Write(&buf, backup.Protection{Recipient: f.id.Recipient().String()}, m, f.keys, func(w io.Writer) error {
		_, err := w.Write(snap)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return VerifyBackup(&buf, Unlock{Identity: []byte(f.id.String())}, keyring.KeyFingerprint(f.priv.Public().(ed25519.PublicKey)))
}

// TestVerifyBackup checks that a backup whose file signature holds is still refused when its
// manifest does not describe its snapshot: a manifest is signed by whoever holds the key, but
// the journal head inside the snapshot is what restore installs (issue 19).
func TestVerifyBackup(t *testing.T) {
	f := newVerifyFixture(t)
	rep, err := f.verify(t, f.manifest(), f.snap)
	if err != nil {
		t.Fatalf("VerifyBackup = %v", err)
	}
	if rep.Users != 2 || rep.Sends != 1 || rep.Files != 3 || rep.Index != f.info.Index || rep.JournalHeadSeq != f.info.Head.Seq || rep.JournalEntries != f.info.Head.Seq {
		t.Fatalf("report %+v, snapshot at %+v", rep, f.info)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	for _, tc := range []struct {
		name   string
		change func(m *backup.Manifest)
		want   error
	}{
		{"another index", func(m *backup.Manifest) { m.Index++ }, ErrBackupMismatch},
		{"another head", func(m *backup.Manifest) { m.JournalSeq-- }, ErrBackupMismatch},
		{"another head hash", func(m *backup.Manifest) { m.JournalHash = hex.EncodeToString(make([]byte, 32)) }, ErrBackupMismatch},
		{"head signed by another key", func(m *backup.Manifest) { m.JournalSig = ed25519.Sign(other, f.info.Head.Bytes()) }, backup.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := f.manifest()
			tc.change(&m)
			if _, err := f.verify(t, m, f.snap); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyBackup = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("snapshot cut short", func(t *testing.T) {
		if _, err := f.verify(t, f.manifest(), f.snap[:len(f.snap)/2]); !errors.Is(err, raftfsm.ErrBadSnapshotStream) {
			t.Fatalf("VerifyBackup = %v, want ErrBadSnapshotStream", err)
		}
	})
}

// FuzzVerifyBackup feeds VerifyBackup snapshots and manifests signed by the right key: it
// must never panic, and accept only a snapshot its manifest describes.
func FuzzVerifyBackup(f *testing.F) {
	fx := newVerifyFixture(f)
	m := fx.manifest()
	f.Add(fx.snap, m.Index, m.JournalSeq)
	f.Add(fx.snap[:len(fx.snap)-1], m.Index, m.JournalSeq)
	f.Add([]byte{}, uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, snap []byte, index, seq uint64) {
		m := fx.manifest()
		m.Index, m.JournalSeq = index, seq
		rep, err := fx.verify(t, m, snap)
		if err != nil {
			return
		}
		if rep.Index != index || rep.JournalHeadSeq != seq {
			t.Fatalf("accepted a backup whose manifest says index %d, head %d: report %+v", index, seq, rep)
		}
	})
}
