package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// Orphans (issue 19): shard files that no manifest references, found on the disks after a
// restore (files uploaded after the backup). They are kept until an administrator deletes
// them: no background job removes a committed shard file it cannot name.

// orphansDeletion is the record of one `orphans delete`.
type orphansDeletion struct {
	Time  time.Time `json:"time"`
	Files []string  `json:"files"`
	Bytes int64     `json:"bytes"`
}

// liveOrphans returns the orphans on the disks that answer now, after a linearizable read
// (so that a manifest recorded a moment ago is seen), with the stored report (its zero value
// when there is none) and its version.
func (n *instance) liveOrphans(ctx context.Context) (adminapi.RestoreReport, uint64, bool, error) {
	if err := n.store.LinearizableRead(ctx); err != nil {
		return adminapi.RestoreReport{}, 0, false, translate(err)
	}
	rep, ver, found, err := readRestoreReport(n.store)
	if err != nil {
		return rep, 0, false, err
	}
	orphans, err := n.findOrphans(ctx)
	if err != nil {
		return rep, 0, false, err
	}
	rep.Orphans = orphans
	return rep, ver, found, nil
}

// findOrphans lists the shard files on every disk that answers whose file ID nothing in the
// metadata references.
func (n *instance) findOrphans(ctx context.Context) ([]adminapi.Orphan, error) {
	_, refs, err := recordedFiles(n.store)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return nil, fmt.Errorf("read the node records: %w", err)
	}
	return orphansOf(ctx, n.blobs, nodes, nil, refs)
}

// Orphans implements adminapi.Service: the restore report (empty when there was no restore)
// with the orphans found on the disks now.
func (s *adminService) Orphans(ctx context.Context) (adminapi.RestoreReport, error) {
	if err := s.leader(); err != nil {
		return adminapi.RestoreReport{}, err
	}
	rep, _, _, err := s.n.liveOrphans(ctx)
	return rep, err
}

// DeleteOrphans implements adminapi.Service: it removes the shard files of the orphans named
// (all of them when none is), on every disk that answers, journalled as "orphans.delete". A
// file ID that the metadata references (an upload that finished meanwhile) is refused with
// CodeConflict, one with no shard file with CodeNotFound; nothing is deleted then.
func (s *adminService) DeleteOrphans(ctx context.Context, req adminapi.OrphansDeleteRequest) (adminapi.RestoreReport, error) {
	n := s.n
	if err := s.leader(); err != nil {
		return adminapi.RestoreReport{}, err
	}
	rep, ver, found, err := n.liveOrphans(ctx)
	if err != nil {
		return rep, err
	}
	byID := map[string]adminapi.Orphan{}
	for _, o := range rep.Orphans {
		byID[o.FileID] = o
	}
	ids := req.FileIDs
	if len(ids) == 0 {
		for _, o := range rep.Orphans {
			ids = append(ids, o.FileID)
		}
	}
	if len(ids) == 0 {
		return rep, nil
	}
	_, refs, err := recordedFiles(n.store)
	if err != nil {
		return rep, err
	}
	var bytes int64
	for _, id := range ids {
		if refs[blobstore.FileID(id)] {
			return rep, adminapi.Errorf(adminapi.CodeConflict, "file %s is referenced by the metadata (an upload or a rebalance recorded it): it is not an orphan, nothing was deleted", id)
		}
		o, ok := byID[id]
		if !ok {
			return rep, adminapi.Errorf(adminapi.CodeNotFound, "no shard file of %s on the disks that answer: nothing was deleted", id)
		}
		bytes += o.Bytes
	}
	// Journalled first: the deletion is the administrator's decision, even if a disk fails.
	del := orphansDeletion{Time: time.Now().UTC(), Files: ids, Bytes: bytes}
	b, _ := json.Marshal(del)
	batch := raftfsm.Batch{
		Ops: []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixOrphansDeleted + strconv.FormatInt(del.Time.UnixNano(), 10)), Value: b}},
		Audit: raftfsm.Audit{Time: del.Time, Actor: actorOf(ctx), Action: "orphans.delete", Target: fmt.Sprintf("%d files", len(ids)),
			Details: mustJSON(map[string]any{"files": ids, "bytes": bytes})},
	}
	if found {
		rest := slices.DeleteFunc(slices.Clone(rep.Orphans), func(o adminapi.Orphan) bool { return slices.Contains(ids, o.FileID) })
		stored := rep
		stored.Orphans = rest
		sb, _ := json.Marshal(stored)
		batch.Conds = []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: []byte(keyRestoreReport), Version: ver}}
		batch.Ops = append(batch.Ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: []byte(keyRestoreReport), Value: sb})
	}
	if _, err := n.store.Propose(ctx, batch); err != nil {
		if errors.Is(err, raftfsm.ErrConflict) {
			return rep, adminapi.Errorf(adminapi.CodeConflict, "the restore report changed meanwhile: run the command again")
		}
		return rep, translate(err)
	}
	var errs []error
	for _, id := range ids {
		if err := n.blobs.Purge(ctx, blobstore.FileID(id)); err != nil {
			errs = append(errs, err)
		}
	}
	n.logger.Info("orphans deleted", "files", len(ids), "bytes", bytes)
	out, _, _, lerr := n.liveOrphans(ctx)
	if err := errors.Join(errs...); err != nil {
		n.logger.Warn("orphans delete: some shard files were not reached", logkey.Err, err)
		if errors.Is(err, blobstore.ErrDiskUnavailable) {
			return out, adminapi.Errorf(adminapi.CodeUnavailable, "some disks did not answer, their shard files of these orphans are left: run the command again once every node answers")
		}
		return out, fmt.Errorf("delete the orphans: %w", err)
	}
	return out, lerr
}
