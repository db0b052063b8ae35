package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/poll"
	"valise/raftfsm"
	"valise/transfer"
	"valise/transfer/filetest"
)

// keepSettled writes a kept selftest file as keep does, trying again while the node's start
// is not over: the sweep of orphaned staged uploads that runs once a leader is known
// (afterLeader, CleanOrphans) takes a selftest being written for an orphan and removes its
// shard parts, which fails that selftest.
func (h *healNode) keepSettled(size int64) string {
	h.t.Helper()
	var id string
	poll.UntilNil(h.t, "a kept selftest file", func() error {
		r, err := h.c.Selftest(h.t.Context(), adminapi.SelftestRequest{Size: size, Keep: true}, nil)
		if err != nil {
			return err
		}
		if !r.OK {
			return fmt.Errorf("selftest %+v", r.Steps)
		}
		id = r.ID
		return nil
	})
	return id
}

// setLayout sets storage.layout and waits for the Store to give new files that layout.
func (h *healNode) setLayout(layout string) {
	h.t.Helper()
	if _, err := h.c.SetSetting(h.t.Context(), layoutSetting, layout); err != nil {
		h.t.Fatal(err)
	}
	poll.UntilNil(h.t, "new files getting layout "+layout, func() error {
		p, err := h.n.blobs.Plan()
		if err != nil {
			return err
		}
		if p.Layout.String() != layout {
			return fmt.Errorf("layout %s", p.Layout)
		}
		return nil
	})
}

// manifest returns the recorded manifest of kept selftest file id.
func (h *healNode) manifest(id string) blobstore.Manifest {
	h.t.Helper()
	it, err := h.n.store.Get([]byte(prefixSelftest + id))
	must(h.t, err)
	var rec selftestRecord
	must(h.t, json.Unmarshal(it.Value, &rec))
	var m blobstore.Manifest
	must(h.t, m.UnmarshalBinary(rec.Manifest))
	return m
}

// filesOf counts the shard files of blobstore file id on the node's disks.
func (h *healNode) filesOf(id blobstore.FileID) int {
	h.t.Helper()
	n := 0
	for _, p := range h.cfg.DiskPaths() {
		m, err := filepath.Glob(filepath.Join(p, "shards", "*", string(id)+".[0-9]*"))
		must(h.t, err)
		n += len(m)
	}
	return n
}

// intents returns the rebalance intents recorded.
func (h *healNode) intents() []string {
	h.t.Helper()
	var keys []string
	must(h.t, h.n.store.Scan([]byte(prefixRebalance), func(it raftfsm.Item) error {
		keys = append(keys, strings.TrimPrefix(string(it.Key), prefixRebalance))
		return nil
	}))
	return keys
}

// rebalance runs the rebalance job through the admin API and checks it ended without failures.
func (h *healNode) rebalance() adminapi.JobProgress {
	h.t.Helper()
	lines := 0
	p, err := h.c.Rebalance(h.t.Context(), func(adminapi.JobProgress) { lines++ })
	if err != nil || !p.Done || p.Failed != 0 || p.Error != "" || lines == 0 || p.Job != adminapi.JobRebalance {
		h.t.Fatalf("rebalance = %+v (%d progress lines), %v", p, lines, err)
	}
	if p.FilesDone != p.FilesTotal || p.BytesDone != p.BytesTotal {
		h.t.Fatalf("rebalance ended at %d/%d files, %d/%d bytes", p.FilesDone, p.FilesTotal, p.BytesDone, p.BytesTotal)
	}
	return p
}

// TestRebalance writes files under 4+2, changes storage.layout to 3+3 and rebalances: every
// file is rewritten under 3+3 (its manifest says so, its old shards are gone, it reads back
// bit-exact), status shows the run, a second run moves nothing, and going back to 4+2 moves
// them again.
func TestRebalance(t *testing.T) {
	h := newHealNode(t, 7, "4+2")
	ids := []string{h.keepSettled(150_000), h.keepSettled(90_001), h.keepSettled(1)}
	data := bytes.Repeat([]byte("a transfer file, through ScanFiles and ReplaceManifest. "), 2000)
	tf := filetest.Store(t.Context(), t, h.n.transfers, h.n.blobs, "alice", "", "a.txt", data)
	if p := h.rebalance(); p.Moved != 0 || p.FilesTotal != 4 {
		t.Fatalf("rebalance with every file in the current layout: %+v", p)
	}
	for _, layout := range []string{"3+3", "4+2"} {
		t.Run("to "+layout, func(t *testing.T) {
			old := map[string]blobstore.Manifest{}
			for _, id := range ids {
				old[id] = h.manifest(id)
			}
			oldTF, _ := h.transferFile(tf.ID)
			h.setLayout(layout)
			p := h.rebalance()
			if p.Moved != 4 || p.FilesTotal != 4 || p.Trigger != "admin" {
				t.Fatalf("rebalance moved %d of %d files (trigger %q), want 4 of 4", p.Moved, p.FilesTotal, p.Trigger)
			}
			m, got := h.transferFile(tf.ID)
			if !bytes.Equal(got, data) || m.Layout.String() != layout || m.FileID == oldTF.FileID || h.filesOf(oldTF.FileID) != 0 {
				t.Fatalf("transfer file after rebalance: %d bytes (want %d), copy %s layout %s, %d old shard files",
					len(got), len(data), m.FileID, m.Layout, h.filesOf(oldTF.FileID))
			}
			for _, id := range ids {
				h.verify(id)
				m := h.manifest(id)
				if m.Layout.String() != layout || m.FileID == old[id].FileID || m.SHA256 != old[id].SHA256 {
					t.Fatalf("%s after rebalance: copy %s layout %s, was %s %s", id, m.FileID, m.Layout, old[id].FileID, old[id].Layout)
				}
				if n := h.filesOf(old[id].FileID); n != 0 {
					t.Fatalf("%d shard files of %s's old copy %s left", n, id, old[id].FileID)
				}
				if n := h.filesOf(m.FileID); n != len(m.Shards) {
					t.Fatalf("%d shard files of %s's copy, want %d", n, id, len(m.Shards))
				}
			}
			if left := h.intents(); len(left) != 0 {
				t.Fatalf("intents left: %v", left)
			}
			if st := h.status(); st.Rebalance == nil || !st.Rebalance.Done || st.Rebalance.Moved != 4 || st.DegradedFiles != 0 {
				t.Fatalf("status after rebalance: %+v, degraded %d", st.Rebalance, st.DegradedFiles)
			}
			if p := h.rebalance(); p.Moved != 0 {
				t.Fatalf("a second rebalance moved %d files", p.Moved)
			}
		})
	}
	// Heal still sees the moved files (their blobstore IDs changed).
	must(t, os.Remove(h.shardOf(h.manifest(ids[0]), 0)))
	h.verify(ids[0])
	if st := h.status(); st.DegradedFiles != 1 {
		t.Fatalf("degraded_files after a degraded read of a moved file = %d, want 1", st.DegradedFiles)
	}
	if p := h.run(adminapi.JobHeal); p.Repaired != 1 {
		t.Fatalf("heal of a moved file repaired %d", p.Repaired)
	}
	if st := h.status(); st.DegradedFiles != 0 {
		t.Fatalf("degraded_files after heal = %d", st.DegradedFiles)
	}
}

// holdBandwidth sets heal.bandwidth to 1MB/s and holds the job at its first wait on it: held
// is closed once the job waits, release (idempotent, also called at cleanup) lets it go on.
// Later waits return at once.
func (h *healNode) holdBandwidth() (held <-chan struct{}, release func()) {
	h.t.Helper()
	hold, free := make(chan struct{}), make(chan struct{})
	var first, freed sync.Once
	release = func() { freed.Do(func() { close(free) }) }
	h.t.Cleanup(release)
	h.n.repair.bucket.sleep = func(ctx context.Context, _ time.Duration) error {
		waits := false
		first.Do(func() { waits = true })
		if !waits {
			return nil
		}
		close(hold)
		select {
		case <-free:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if _, err := h.c.SetSetting(h.t.Context(), "heal.bandwidth", "1MB/s"); err != nil {
		h.t.Fatal(err)
	}
	return hold, release
}

// transferFile returns the recorded manifest of transfer file id and the bytes it reads back.
func (h *healNode) transferFile(id transfer.FileID) (blobstore.Manifest, []byte) {
	h.t.Helper()
	f, err := h.n.transfers.FileRecord(id)
	must(h.t, err)
	var m blobstore.Manifest
	must(h.t, m.UnmarshalBinary(f.Manifest))
	var buf bytes.Buffer
	must(h.t, h.n.blobs.Get(h.t.Context(), m, &buf, 0, m.Size))
	return m, buf.Bytes()
}

// shardOf returns the path of shard i of manifest m.
func (h *healNode) shardOf(m blobstore.Manifest, i int) string {
	h.t.Helper()
	return h.shard(string(m.FileID), i)
}

// TestRebalanceConcurrentDelete deletes a file after rebalance copied it and before the copy
// is recorded (the job held on heal.bandwidth): the copy is discarded, not counted as a
// failure, and nothing of it is left; the other file moves. Another job asked for meanwhile
// is refused.
func TestRebalanceConcurrentDelete(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	ids := []string{h.keepSettled(3 << 20), h.keepSettled(3 << 20)}
	h.setLayout("3+3")
	held, release := h.holdBandwidth()
	done := make(chan adminapi.JobProgress, 1)
	go func() {
		p, _ := h.c.Rebalance(context.Background(), nil)
		done <- p
	}()
	<-held
	var e *adminapi.Error
	if _, err := h.c.Heal(t.Context(), nil); !errors.As(err, &e) || e.Code != adminapi.CodeConflict || !strings.Contains(e.Message, "a rebalance is running") {
		t.Fatalf("heal during a rebalance = %v, want a conflict saying a rebalance runs", err)
	}
	in := h.intents()
	if len(in) != 1 {
		t.Fatalf("intents while a copy waits = %v, want 1", in)
	}
	copyID := blobstore.FileID(in[0])
	victim, _, _ := strings.Cut(in[0], ".r")
	if h.filesOf(copyID) != 6 {
		t.Fatalf("the copy %s has %d shard files before its record, want 6", copyID, h.filesOf(copyID))
	}
	r, err := h.c.Selftest(t.Context(), adminapi.SelftestRequest{VerifyID: victim}, nil) // reads, then deletes
	release()
	if err != nil || !r.OK {
		t.Fatalf("delete %s = %+v, %v", victim, r, err)
	}
	p := <-done
	if !p.Done || p.Failed != 0 || p.Error != "" || p.Moved != 1 || p.FilesDone != 2 {
		t.Fatalf("rebalance with a file deleted meanwhile = %+v", p)
	}
	if n := h.filesOf(copyID); n != 0 {
		t.Fatalf("%d shard files of the discarded copy left", n)
	}
	if left := h.intents(); len(left) != 0 {
		t.Fatalf("intents left: %v", left)
	}
	for _, id := range ids {
		if id != victim {
			h.verify(id)
			if m := h.manifest(id); m.Layout.String() != "3+3" {
				t.Fatalf("the other file's layout is %s", m.Layout)
			}
		}
	}
}

// TestRebalanceInterrupted leaves the intents a crash would: a copy made but never recorded,
// and a copy recorded whose old shards were not deleted. The next run removes the first copy,
// the second's old shards, and moves what is still to move.
func TestRebalanceInterrupted(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	ids := []string{h.keepSettled(70_000), h.keepSettled(50_000)}
	h.setLayout("3+3")
	r := h.n.repair
	ctx := t.Context()
	items, err := r.collect()
	must(t, err)
	if len(items) != 2 {
		t.Fatalf("%d items", len(items))
	}
	copies := make([]blobstore.FileID, 2)
	for i, it := range items {
		copies[i], err = copyID(it.id)
		must(t, err)
		must(t, r.putIntent(ctx, it, copies[i]))
		out, err := h.n.blobs.Relayout(ctx, it.m, copies[i])
		must(t, err)
		if i == 1 { // recorded, old shards left
			must(t, r.commit(ctx, it, out, adminapi.JobRebalance))
		}
	}
	olds := []blobstore.FileID{items[0].m.FileID, items[1].m.FileID}
	p := h.rebalance()
	if p.Moved != 1 {
		t.Fatalf("rebalance after a crash moved %d files, want 1 (the unrecorded copy's file)", p.Moved)
	}
	if n := h.filesOf(copies[0]); n != 0 {
		t.Fatalf("%d shard files of the unrecorded copy left", n)
	}
	if n := h.filesOf(olds[1]); n != 0 {
		t.Fatalf("%d old shard files of the recorded copy left", n)
	}
	if left := h.intents(); len(left) != 0 {
		t.Fatalf("intents left: %v", left)
	}
	if m := h.manifest(string(items[1].id)); m.FileID != copies[1] {
		t.Fatalf("file %s names %s, want the recorded copy %s", items[1].id, m.FileID, copies[1])
	}
	for _, id := range ids {
		h.verify(id)
		if m := h.manifest(id); m.Layout.String() != "3+3" {
			t.Fatalf("%s layout %s", id, m.Layout)
		}
	}
}
