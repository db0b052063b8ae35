package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
	"valise/transfer"
)

// The rebalance job: every stored file whose layout is not the one new files get
// (storage.layout), or whose shards sit where the cluster map no longer places them, is copied
// whole under the current layout and placement (blobstore.Relayout, into a new blobstore
// FileID: shard files are named by FileID, so an in-place rewrite would overwrite the shards
// the recorded manifest points at), the copy's manifest is recorded conditionally
// (ReplaceManifest), then the old shards are deleted. It is a repair job as heal is: one job at
// a time on the leader, the same progress, heal.bandwidth. See docs/design.md, row rebalance.
//
// Crash safety: before a copy is written, an intent record repair/rebalance/<copy ID> names
// the file and the shards of the manifest being replaced. Until the copy's manifest is
// recorded the old one is the file's and reads as before; once it is, the copy is. Each run
// starts by resolving the intents left by a crash: when the file's record names the copy, the
// old shards are deleted; otherwise the copy is (blobstore.Purge), and the intent goes.

// prefixRebalance holds the intents: repair/rebalance/<copy FileID> → rebalanceIntent.
const prefixRebalance = "repair/rebalance/"

// rebalanceIntent is a copy being made: what to delete if the process stops before the end.
type rebalanceIntent struct {
	// File is the transfer file ID or the selftest ID whose record holds the manifest.
	File     string `json:"file"`
	Selftest bool   `json:"selftest,omitempty"`
	// Old and OldShards name the shards of the manifest being replaced (no key: a deleted
	// file's wrapped key must not outlive its record here).
	Old       blobstore.FileID   `json:"old"`
	OldShards []blobstore.DiskID `json:"old_shards"`
	Started   time.Time          `json:"started"`
}

// stagedByOthers reports whether a staged byte-store file is a selftest's or a rebalance
// copy's rather than an upload's: the uploads' orphan sweep leaves those to their writers,
// which may be writing them while it runs (a selftest asked for right after start). A crash's
// leftovers of theirs are removed elsewhere: selftests' when the node opens, before serving,
// copies' by their rebalance intents.
func stagedByOthers(id blobstore.FileID) bool {
	return isSelftestID(id) || strings.Contains(string(id), copyMark)
}

// copyMark separates a file's ID from the random suffix of a rebalance copy's (copyID).
const copyMark = ".r"

// copyID returns a new blobstore FileID for a copy of file id: the ID and a random suffix, so
// that no two copies (nor a copy and the original) ever share shard file names.
func copyID(id blobstore.FileID) (blobstore.FileID, error) {
	c := blobstore.FileID(string(id) + copyMark + randomHex(8))
	if len(c) > blobstore.MaxFileIDLen {
		return "", fmt.Errorf("file ID %s too long for a copy", id)
	}
	return c, nil
}

// rebalanceStart runs before the files are walked: it refuses when no layout can be placed
// and resolves the intents left by an interrupted run.
func (r *repairer) rebalanceStart(ctx context.Context) error {
	n := r.n
	if err := n.store.LinearizableRead(ctx); err != nil {
		return fmt.Errorf("linearizable read: %w", err)
	}
	// The layout and map in force now, the last storage.layout set included (placement
	// applies them on a tick otherwise).
	r.refreshMap(ctx)
	p, err := n.blobs.Plan()
	if err != nil {
		return fmt.Errorf("no layout for new files: %w", err)
	}
	n.logger.Info("rebalance: files move to the layout of new files", "layout", p.Layout.String())
	var keys []string
	err = n.store.Scan([]byte(prefixRebalance), func(it raftfsm.Item) error {
		keys = append(keys, string(it.Key))
		return nil
	})
	if err != nil {
		return fmt.Errorf("list the rebalance intents: %w", err)
	}
	for _, k := range keys {
		if err := r.resolveIntent(ctx, blobstore.FileID(strings.TrimPrefix(k, prefixRebalance))); err != nil {
			return fmt.Errorf("clean up an interrupted rebalance: %w", err)
		}
	}
	return nil
}

// resolveIntent finishes or undoes the copy id of an interrupted run, after reading whether
// the file's record names it, and removes its intent.
func (r *repairer) resolveIntent(ctx context.Context, id blobstore.FileID) error {
	n := r.n
	key := []byte(prefixRebalance + string(id))
	it, err := n.store.Get(key)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var in rebalanceIntent
	if err := json.Unmarshal(it.Value, &in); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	cur, gone, err := r.currentManifest(in.File, in.Selftest)
	if err != nil {
		return err
	}
	switch {
	case gone:
		// Deleted: whichever manifest its delete removed, nothing names the other.
		err = errors.Join(n.blobs.Purge(ctx, id), n.blobs.Delete(ctx, blobstore.Manifest{FileID: in.Old, Shards: in.OldShards}))
	case cur == id:
		err = n.blobs.Delete(ctx, blobstore.Manifest{FileID: in.Old, Shards: in.OldShards})
	default:
		err = n.blobs.Purge(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("file %s, copy %s: %w", in.File, id, err)
	}
	n.logger.Info("rebalance: resolved an interrupted copy", logFileID, in.File, "copy", id, "recorded", cur == id)
	return r.dropIntent(ctx, id)
}

// currentManifest returns the blobstore FileID of the manifest recorded for a file, or gone.
func (r *repairer) currentManifest(file string, selftest bool) (blobstore.FileID, bool, error) {
	var raw []byte
	if selftest {
		it, err := r.n.store.Get([]byte(prefixSelftest + file))
		if errors.Is(err, raftfsm.ErrNotFound) {
			return "", true, nil
		}
		if err != nil {
			return "", false, err
		}
		var rec selftestRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return "", false, fmt.Errorf("decode selftest %s: %w", file, err)
		}
		raw = rec.Manifest
	} else {
		f, err := r.n.transfers.FileRecord(transfer.FileID(file))
		if errors.Is(err, transfer.ErrFileNotFound) || errors.Is(err, raftfsm.ErrNotFound) {
			return "", true, nil
		}
		if err != nil {
			return "", false, err
		}
		raw = f.Manifest
	}
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(raw); err != nil {
		return "", false, fmt.Errorf("decode the manifest of %s: %w", file, err)
	}
	return m.FileID, false, nil
}

// putIntent records the intent of copy id of it before any byte of it is written.
func (r *repairer) putIntent(ctx context.Context, it repairItem, id blobstore.FileID) error {
	b, err := json.Marshal(rebalanceIntent{File: string(it.id), Selftest: it.selftest, Old: it.m.FileID, OldShards: it.m.Shards, Started: time.Now().UTC()})
	if err != nil {
		return err
	}
	_, err = r.n.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixRebalance + string(id)), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "rebalance.copy", Target: string(it.id), Details: b},
	})
	if err != nil {
		return fmt.Errorf("record the rebalance intent: %w", err)
	}
	return nil
}

// dropIntent removes the intent of copy id: the copy or the old shards are gone.
func (r *repairer) dropIntent(ctx context.Context, id blobstore.FileID) error {
	_, err := r.n.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: []byte(prefixRebalance + string(id))}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "rebalance.done", Target: string(id)},
	})
	if err != nil {
		return fmt.Errorf("remove the rebalance intent of %s: %w", id, err)
	}
	return nil
}

// rebalanceOne copies one file to the current layout and placement when it is not there, and
// counts it. It returns an error only when the job must stop (this node no longer leads).
func (r *repairer) rebalanceOne(ctx context.Context, run *jobRun, it repairItem) error {
	n := r.n
	defer run.update(func(p *adminapi.JobProgress) { p.FilesDone++; p.BytesDone += it.m.Size })
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		if gone, changed := r.changed(it); gone || changed {
			// Deleted or rewritten meanwhile: the next run looks at it again.
			return
		}
		n.logger.Error("rebalance: file not moved", logFileID, it.id, logkey.Err, err)
		run.update(func(p *adminapi.JobProgress) {
			p.Failed++
			if len(p.Failures) < maxFailures {
				p.Failures = append(p.Failures, fmt.Sprintf("%s: %v", it.id, err))
			}
		})
	}
	why, err := n.blobs.Misplaced(it.m)
	if err != nil {
		fail(err)
		return nil
	}
	if why == "" {
		return nil
	}
	if !n.store.Status().State.IsLeader() {
		return errors.New("stopped: this node is no longer the leader (run the command again on the leader)")
	}
	id, err := copyID(blobstore.FileID(it.id))
	if err != nil {
		fail(err)
		return nil
	}
	if err := r.putIntent(ctx, it, id); err != nil {
		fail(err)
		return nil
	}
	// Cleanup runs to its end even when the job is stopped: it leaves nothing half done.
	cctx := context.WithoutCancel(ctx)
	discard := func() {
		if err := n.blobs.Purge(cctx, id); err != nil {
			n.logger.Warn("rebalance: remove a discarded copy (the next run retries)", logFileID, it.id, "copy", id, logkey.Err, err)
			return
		}
		if err := r.dropIntent(cctx, id); err != nil {
			n.logger.Warn("rebalance: discard a copy", logFileID, it.id, logkey.Err, err)
		}
	}
	out, err := n.blobs.Relayout(ctx, it.m, id)
	if err != nil && !errors.Is(err, blobstore.ErrHealNeeded) {
		discard()
		fail(err)
		return nil
	}
	if err != nil {
		r.markDegraded(id) // the copy reached its quorum without every shard
	}
	// heal.bandwidth: the file's bytes are charged once copied, before the copy is recorded;
	// the rate holds on average over the files, as for heal.
	r.bucket.setRate(n.healBandwidth())
	if err := r.bucket.take(ctx, it.m.Size); err != nil {
		discard()
		return nil
	}
	if err := r.commit(ctx, it, out, adminapi.JobRebalance); err != nil {
		if errors.Is(err, transfer.ErrFileChanged) || errors.Is(err, transfer.ErrFileNotFound) ||
			errors.Is(err, raftfsm.ErrConflict) || errors.Is(err, raftfsm.ErrNotFound) {
			// Changed or deleted meanwhile: the record never named the copy.
			n.logger.Info("rebalance: file changed while copied; copy discarded", logFileID, it.id, logkey.Err, err)
			discard()
			return nil
		}
		// The outcome is unknown (the proposal may yet commit): the intent stays, and the
		// next run reads the record to decide.
		fail(fmt.Errorf("record the new manifest: %w", err))
		return nil
	}
	r.clearMarks(cctx, it.m.FileID, time.Now()) // degraded.go: the old blobstore ID is gone
	if err := n.blobs.Delete(cctx, it.m); err != nil {
		n.logger.Warn("rebalance: delete the old shards (the next run retries)", logFileID, it.id, logkey.Err, err)
	} else if err := r.dropIntent(cctx, id); err != nil {
		n.logger.Warn("rebalance: old shards deleted", logFileID, it.id, logkey.Err, err)
	}
	n.logger.Info("rebalance: file moved", logFileID, it.id, "why", why, "layout", out.Layout.String(), "copy", id)
	run.update(func(p *adminapi.JobProgress) { p.Moved++ })
	return nil
}
