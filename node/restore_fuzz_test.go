package node

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/raft"

	"valise/backup"
	"valise/keyring"
	"valise/raftfsm"
)

// fuzzSource is a one-node cluster's snapshot stream and what a backup of it needs.
type fuzzSource struct {
	snap     []byte
	manifest backup.Manifest
	keys     keyring.Bundle
	key      string // the signing key's fingerprint
}

// newFuzzSource initialises a node and reads its metadata's snapshot stream offline.
func newFuzzSource(f *testing.F) fuzzSource {
	f.Helper()
	dir := filepath.Join(f.TempDir(), "data")
	if _, err := Init(f.Context(), InitOptions{
		DataDir: dir, Disks: 1, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", Raft: &fastRaft,
	}); err != nil {
		f.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	must(f, err)
	keys, err := keyring.Load(cfg.KeyDirPath())
	must(f, err)
	addr, err := advertiseAddr(cfg.Network.Advertise, cfg.Network.ClusterListen)
	must(f, err)
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	n := &instance{cfg: cfg}
	store, err := raftfsm.Open(n.raftConfig(), raftfsm.Deps{Transport: trans, Signer: headSigner{keys}, Logger: newLogger(LogConfig{Level: "error"}, io.Discard)})
	must(f, err)
	defer store.Close()
	must(f, waitLeading(f.Context(), store))
	sn, err := store.OpenSnapshot()
	must(f, err)
	defer sn.Close()
	var buf bytes.Buffer
	_, err = sn.WriteTo(&buf)
	must(f, err)
	info := sn.Info()
	var cluster clusterInfo
	must(f, getJSON(store, keyClusterInfo, &cluster))
	bundle, err := keys.Export()
	must(f, err)
	return fuzzSource{
		snap: buf.Bytes(), keys: bundle, key: keys.SigningFingerprint(),
		manifest: backup.Manifest{
			ClusterID: cluster.ID, NodeID: cfg.Node.ID, Index: info.Index, Term: info.Term,
			JournalSeq: info.Head.Seq, JournalHash: hex.EncodeToString(info.Head.Hash[:]),
			Nodes:   []backup.Node{{ID: cfg.Node.ID, Site: cfg.Node.Site, State: nodeActive}},
			Created: time.Now().UTC(),
		},
	}
}

// FuzzRestoreSnapshot restores backups signed with the cluster's key whose snapshot stream
// is damaged (a bug of the node that took it, a disk's bit rot before it was signed): the
// restore succeeds, or fails leaving the data directory absent and the disk unmarked, never
// half-restored.
func FuzzRestoreSnapshot(f *testing.F) {
	src := newFuzzSource(f)
	id, err := age.GenerateX25519Identity()
	must(f, err)
	f.Add(src.snap)
	f.Add(src.snap[:len(src.snap)/2])
	f.Add(src.snap[:len(src.snap)-1])
	flipped := bytes.Clone(src.snap)
	flipped[len(flipped)/3] ^= 0x01
	f.Add(flipped)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, snap []byte) {
		work := t.TempDir()
		file := filepath.Join(work, "fuzz.backup")
		var b bytes.Buffer
		must(t, backup.Write(&b, backup.Protection{Recipient: id.Recipient().String()}, src.manifest, src.keys, func(w io.Writer) error {
			_, err := w.Write(snap)
			return err
		}))
		must(t, os.WriteFile(file, b.Bytes(), 0o600))
		dir, disk := filepath.Join(work, "restored"), filepath.Join(work, "disk")
		_, err := Restore(t.Context(), RestoreOptions{
			From: file, DataDir: dir, ExpectKey: src.key, Unlock: Unlock{Identity: []byte(id.String())},
			DiskPaths: []string{disk}, Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0",
			AdminSocket: filepath.Join(work, "a.sock"), Raft: &fastRaft,
		})
		if err == nil {
			if _, err := os.Stat(filepath.Join(dir, ConfigFileName)); err != nil {
				t.Fatalf("a restore that succeeded wrote no configuration: %v", err)
			}
			return
		}
		for _, p := range []string{dir, disk} {
			if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("Restore = %v, and left %s (%v)", err, p, serr)
			}
		}
	})
}
