package transfer

import (
	"bytes"
	"errors"
	"testing"

	"valise/blobstore"
	"valise/raftfsm"
)

// TestReplaceManifest records a healed file's new manifest only while the record is at the
// version read, and journals it as file.heal.
func TestReplaceManifest(t *testing.T) {
	e := newEnv(t)
	f := e.upload("alice", "a.bin", randomData(5000, 1), VerdictClean)
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(f.Manifest); err != nil {
		t.Fatal(err)
	}
	m.Shards[0], m.Shards[1] = m.Shards[1], m.Shards[0] // as if heal had moved them
	nb, _ := m.MarshalBinary()
	got, err := e.svc.ReplaceManifest(e.ctx, f.ID, f.Version, nb, "heal")
	if err != nil || !bytes.Equal(got.Manifest, nb) || got.Version <= f.Version {
		t.Fatalf("ReplaceManifest = %d, %v", got.Version, err)
	}
	if rec, err := e.svc.FileRecord(f.ID); err != nil || !bytes.Equal(rec.Manifest, nb) || rec.Owner != "alice" || rec.Verdict != VerdictClean {
		t.Fatalf("record after replace: %+v, %v", rec, err)
	}
	if _, err := e.svc.ReplaceManifest(e.ctx, f.ID, f.Version, f.Manifest, "heal"); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("replace at a stale version = %v, want ErrFileChanged", err)
	}
	if rec, _ := e.svc.FileRecord(f.ID); !bytes.Equal(rec.Manifest, nb) {
		t.Fatal("a stale replace changed the record")
	}
	if _, err := e.svc.ReplaceManifest(e.ctx, "nope", 1, nb, "heal"); !errors.Is(err, ErrFileNotFound) {
		t.Fatalf("replace of a missing file = %v, want ErrFileNotFound", err)
	}
	found := false
	e.meta.Journal(1, func(en raftfsm.Entry) error {
		if en.Action == "file.heal" && en.Target == string(f.ID) {
			found = true
			if bytes.Contains(en.Details, m.WrappedKey) {
				t.Error("the journal holds the wrapped key")
			}
		}
		return nil
	})
	if !found {
		t.Fatal("no file.heal journal entry")
	}
}
