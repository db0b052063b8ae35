package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/poll"
	"valise/raftfsm"
)

// TestRestoreReport checks the restore report on a real node over real disks: every file the
// metadata records is complete, healable, waiting for an absent node or lost (and named), the
// shard files nothing references are orphans; the leader brings a stored report up to date
// and stops once nothing waits; status shows it; orphans delete is journalled, refuses a file
// the metadata references, and removes the shard files from the disks.
func TestRestoreReport(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	n := h.n
	ctx := t.Context()
	complete, healable, lost := h.keep(40<<10), h.keep(40<<10), h.keep(40<<10)
	orphan, err := n.blobs.Put(ctx, "orphan-after-backup", bytes.NewReader(bytes.Repeat([]byte("o"), 30<<10)))
	must(t, err)
	must(t, os.Remove(h.shard(healable, 5)))
	for i := range 3 {
		must(t, os.Remove(h.shard(lost, i)))
	}

	var rep adminapi.RestoreReport
	must(t, fillRestoreCounts(ctx, n.store, n.blobs, nil, &rep))
	if rep.Complete != 1 || rep.Healable != 1 || rep.Waiting != 0 || rep.Lost != 1 || rep.Checked.IsZero() {
		t.Fatalf("report = %+v, want 1 complete, 1 healable, 1 lost", rep)
	}
	if len(rep.LostFiles) != 1 || rep.LostFiles[0].ID != lost || rep.LostFiles[0].Name != "selftest" {
		t.Fatalf("lost files = %+v, want %s", rep.LostFiles, lost)
	}
	if len(rep.Orphans) != 1 || rep.Orphans[0].FileID != string(orphan.FileID) || rep.Orphans[0].Shards != 6 || rep.Orphans[0].Bytes == 0 || len(rep.Orphans[0].Disks) != 6 {
		t.Fatalf("orphans = %+v, want %s's 6 shards", rep.Orphans, orphan.FileID)
	}

	// The shards lost are on the disks of a node that is not back: the file waits for it.
	var waiting adminapi.RestoreReport
	must(t, fillRestoreCounts(ctx, n.store, n.blobs, []string{n.cfg.Node.ID}, &waiting))
	if waiting.Waiting != 1 || waiting.Lost != 0 || !slices.Equal(waiting.WaitingNodes, []string{n.cfg.Node.ID}) {
		t.Fatalf("report with this node absent = %+v, want 1 waiting", waiting)
	}

	// A report restore wrote, saying files wait: the leader recomputes it and stops there.
	stored := adminapi.RestoreReport{BackupFile: "b.age", Node: n.cfg.Node.ID, RestoredAt: time.Now().UTC(), Waiting: 3, WaitingNodes: []string{"n-gone"}}
	putRestoreReport(t, n, stored)
	waitRestoreReport(t, n, func(got adminapi.RestoreReport) bool {
		return got.Waiting == 0 && got.Lost == 1 && got.Complete == 1 && len(got.WaitingNodes) == 0 && got.BackupFile == "b.age"
	})
	st := h.status()
	if st.Restore == nil || st.Restore.Lost != 1 || len(st.Restore.Orphans) != 1 {
		t.Fatalf("status.restore = %+v", st.Restore)
	}

	// No background sweep removes an orphan's shard files: the staged-upload cleanups, heal,
	// scrub and rebalance leave them (the lost file makes heal and scrub fail: ignored here).
	if _, err := n.uploader.CleanOrphans(ctx, stagedByOthers); err != nil {
		t.Fatal(err)
	}
	must(t, n.blobs.CleanStaged(ctx, nil))
	for _, job := range []func(context.Context, func(adminapi.JobProgress)) (adminapi.JobProgress, error){h.c.Heal, h.c.Scrub, h.c.Rebalance} {
		if _, err := job(ctx, nil); err != nil {
			var e *adminapi.Error
			if !errors.As(err, &e) {
				t.Fatalf("repair job: %v", err)
			}
		}
	}

	// Orphans through the admin API.
	got, err := h.c.Orphans(ctx)
	if err != nil || len(got.Orphans) != 1 || got.Orphans[0].FileID != string(orphan.FileID) {
		t.Fatalf("Orphans = %+v, %v", got, err)
	}
	var ae *adminapi.Error
	if _, err := h.c.DeleteOrphans(ctx, adminapi.OrphansDeleteRequest{FileIDs: []string{complete}}); !errors.As(err, &ae) || ae.Code != adminapi.CodeConflict {
		t.Fatalf("DeleteOrphans of a recorded file: %v, want conflict", err)
	}
	if _, err := h.c.DeleteOrphans(ctx, adminapi.OrphansDeleteRequest{FileIDs: []string{"no-such-file"}}); !errors.As(err, &ae) || ae.Code != adminapi.CodeNotFound {
		t.Fatalf("DeleteOrphans of no file: %v, want not found", err)
	}
	h.verify(complete) // refused deletions touched nothing
	got, err = h.c.DeleteOrphans(ctx, adminapi.OrphansDeleteRequest{})
	if err != nil || len(got.Orphans) != 0 {
		t.Fatalf("DeleteOrphans(all) = %+v, %v", got, err)
	}
	for _, p := range h.cfg.DiskPaths() {
		d, err := blobstore.NewDirDisk("x", p)
		must(t, err)
		shards, err := d.List(context.Background(), "shards")
		must(t, err)
		for _, s := range shards {
			if strings.Contains(s, string(orphan.FileID)) {
				t.Fatalf("orphan shard file %s left on %s", s, p)
			}
		}
	}
	if r, _, _, _ := readRestoreReport(n.store); len(r.Orphans) != 0 {
		t.Fatalf("stored report still lists orphans: %+v", r.Orphans)
	}
	found := false
	must(t, n.store.Scan([]byte(prefixOrphansDeleted), func(it raftfsm.Item) error {
		var d orphansDeletion
		found = json.Unmarshal(it.Value, &d) == nil && slices.Equal(d.Files, []string{string(orphan.FileID)})
		return nil
	}))
	if !found {
		t.Fatal("no record of the orphans deleted")
	}
	jr, err := h.c.VerifyJournal(ctx)
	if err != nil || !jr.OK {
		t.Fatalf("journal after orphans delete: %+v, %v", jr, err)
	}
}

// putRestoreReport stores rep as restore writes it.
func putRestoreReport(t *testing.T, n *instance, rep adminapi.RestoreReport) {
	t.Helper()
	b, _ := json.Marshal(rep)
	_, err := n.store.Propose(t.Context(), raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyRestoreReport), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.restore"},
	})
	must(t, err)
}

// waitRestoreReport waits until the report n stores satisfies want (the leader updates it).
func waitRestoreReport(t *testing.T, n *instance, want func(adminapi.RestoreReport) bool) {
	t.Helper()
	poll.UntilNil(t, "the restore report updated", func() error {
		rep, _, _, err := readRestoreReport(n.store)
		if err != nil {
			return err
		}
		if !want(rep) {
			return fmt.Errorf("stored report %+v", rep)
		}
		return nil
	})
}
