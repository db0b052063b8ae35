package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/poll"
	"valise/raftfsm"
)

// TestDegradedMarksInRaft: a degraded read's mark is published in Raft (so that the leader's
// heal sees the marks of every node and every node counts them), status counts it, and the
// heal that repairs the file clears it (issue 18).
func TestDegradedMarksInRaft(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	id := h.keep(60_000)
	key := []byte(keyDegraded + id)
	flipBytes(t, h.shard(id, 1)) // bit rot: only a read (or scrub) finds it, not heal's check
	h.verify(id)
	poll.UntilNil(t, "the mark published in Raft", func() error {
		if _, err := h.n.store.Get(key); err != nil {
			return err
		}
		h.n.repair.mu.Lock()
		defer h.n.repair.mu.Unlock()
		if len(h.n.repair.degraded) != 0 {
			return fmt.Errorf("%d marks not yet published", len(h.n.repair.degraded))
		}
		return nil
	})
	if st := h.status(); st.DegradedFiles != 1 {
		t.Fatalf("degraded_files = %d with one published mark, want 1", st.DegradedFiles)
	}
	// Heal's check finds nothing wrong with the shard files; the mark makes it heal the file.
	if p := h.run(adminapi.JobHeal); p.Repaired != 1 {
		t.Fatalf("heal repaired %d files, want the marked one", p.Repaired)
	}
	if _, err := h.n.store.Get(key); !errors.Is(err, raftfsm.ErrNotFound) {
		t.Fatalf("the mark after heal: %v, want it cleared", err)
	}
	if st := h.status(); st.DegradedFiles != 0 {
		t.Fatalf("degraded_files after heal = %d", st.DegradedFiles)
	}
	if p := h.run(adminapi.JobScrub); p.Repaired != 0 {
		t.Fatalf("scrub after heal repaired %d files: heal left the bit rot", p.Repaired)
	}
}

// TestDiskWatch: a failed call on a local disk whose directory is gone wakes the probes; a
// missing file on a disk that is there does not.
func TestDiskWatch(t *testing.T) {
	root := filepath.Join(t.TempDir(), "d1")
	must(t, os.Mkdir(root, 0o700))
	d, err := blobstore.NewDirDisk("d1", root)
	must(t, err)
	r := &repairer{probeKick: make(chan struct{}, 1)}
	w := r.watchDisk(d, root)
	woken := func() bool {
		select {
		case <-r.probeKick:
			return true
		default:
			return false
		}
	}
	f, err := w.Create(t.Context(), "a/b.shard", true)
	must(t, err)
	must(t, f.Close())
	if _, err := w.Open(t.Context(), "a/none.shard"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open a missing file: %v", err)
	}
	if woken() {
		t.Fatal("a missing file on a disk that is there woke the probes")
	}
	must(t, os.RemoveAll(root))
	for _, call := range []func() error{
		func() error { _, err := w.Open(t.Context(), "a/b.shard"); return err },
		func() error { _, err := w.Create(t.Context(), "a/c.shard", true); return err },
	} {
		if err := call(); err == nil || !woken() {
			t.Fatalf("a call on a deleted disk directory: %v, probes not woken", err)
		}
	}
}
