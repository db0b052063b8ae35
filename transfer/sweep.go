package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"valise/raftfsm"
)

// Sweep enforces retention once: it closes the links of sends that expired or were used up,
// destroys the files that no active send needs (their key first, then their shards; see the
// package doc), expires stale uploads, finishes tombstones left by an earlier run, and
// drops expired grants. It must run on the leader; it is idempotent and may be interrupted
// at any point: the next run finishes the work. Errors on single items do not stop the
// sweep; they are joined in the returned error.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	var errs []error
	// fail notes an item's error; it reports true when the sweep must stop: this node
	// cannot propose (not the leader, closed) or ctx ended.
	fail := func(err error) bool {
		if err != nil {
			errs = append(errs, err)
		}
		return errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader) ||
			errors.Is(err, raftfsm.ErrClosed) || ctx.Err() != nil
	}
	now := s.clock()

	// 1. Sends that ended: close their links.
	status := make(map[SendID]SendStatus)
	var closing []SendID
	err := scanJSON(s.store, prefixSend, func(rec *sendRecord, _ uint64) error {
		st := rec.Status(now)
		status[rec.ID] = st
		if !st.live() && !rec.LinksClosed {
			closing = append(closing, rec.ID)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("sweep sends: %w", err)
	}
	for _, id := range closing {
		done, err := s.closeLinks(ctx, id)
		if done {
			rep.LinksClosed++
		}
		if fail(err) {
			return rep, errors.Join(errs...)
		}
	}

	// 2. Files no active send needs: destroy the key (the tombstone keeps the shards' names).
	var shredding []FileID
	err = scanJSON(s.store, prefixFile, func(f *File, _ uint64) error {
		if s.shredReason(f, func(id SendID) SendStatus { return status[id] }, now) != "" {
			shredding = append(shredding, f.ID)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("sweep files: %w", err)
	}
	for _, id := range shredding {
		done, err := s.shredFile(ctx, id)
		if done {
			rep.FilesShredded++
		}
		if fail(err) {
			return rep, errors.Join(errs...)
		}
	}

	// 3. Stale uploads.
	expired, err := s.ExpiredUploads(ctx, now)
	if err != nil {
		return rep, err
	}
	for _, up := range expired {
		err := s.dropUpload(ctx, up.ID, "system", "upload.expire", "expired", func(u *Upload) bool {
			return !s.clock().Before(u.Expires)
		})
		if err == nil {
			rep.UploadsExpired++
		}
		if fail(skipped(err)) {
			return rep, errors.Join(errs...)
		}
	}

	// 4. Tombstones, this run's and any an earlier run left: delete the shards, then the
	// tombstone.
	n, err := s.finishTombstones(ctx)
	rep.ShardsDeleted = n
	if fail(err) {
		return rep, errors.Join(errs...)
	}

	// 5. Expired grants.
	n, err = s.dropGrants(ctx, now)
	rep.GrantsRemoved = n
	fail(err)

	return rep, errors.Join(errs...)
}

// shredReason says why f should be destroyed now, "" if it must be kept: a file carried by
// sends is kept while one of them is active; a file carried by none (never sent, or
// quarantined) for the policy's UnsentRetention.
func (s *Service) shredReason(f *File, status func(SendID) SendStatus, now time.Time) string {
	if len(f.Sends) == 0 {
		if now.Before(f.Created.Add(s.policy().UnsentRetention)) {
			return ""
		}
		if f.Quarantined {
			return "quarantine"
		}
		return "unsent"
	}
	var reasons []string
	for _, id := range f.Sends {
		st := status(id)
		if st.live() {
			return ""
		}
		if st == "" {
			st = "missing"
		}
		if !slices.Contains(reasons, string(st)) {
			reasons = append(reasons, string(st))
		}
	}
	return "send_" + strings.Join(reasons, "+")
}

// closeLinks deletes the link records of an ended send.
func (s *Service) closeLinks(ctx context.Context, id SendID) (bool, error) {
	_, err := s.change(ctx, "close links of "+string(id), func() (raftfsm.Batch, error) {
		rec, err := s.readSend(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		st := rec.Status(now)
		if st.live() || rec.LinksClosed {
			return raftfsm.Batch{}, errSkip
		}
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(sendKey(id), rec.Version)},
			Audit: audit(now, "system", "send.close", string(id), map[string]any{"status": st}),
		}
		if st == StatusExpired {
			b.Audit.Action = "send.expire"
		}
		for _, h := range rec.Links {
			b.Ops = append(b.Ops, del(linkKey(h)))
		}
		rec.LinksClosed = true
		b.Ops = append(b.Ops, put(sendKey(id), rec))
		return b, nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	return err == nil, err
}

// shredFile destroys a file's key: one batch deletes the file record (and the manifest with
// its wrapped key), writes the tombstone naming its shards, and releases the owner's quota.
// It decides again on fresh reads, so a send created meanwhile saves the file.
func (s *Service) shredFile(ctx context.Context, id FileID) (bool, error) {
	_, err := s.change(ctx, "shred file "+string(id), func() (raftfsm.Batch, error) {
		var f File
		ver, err := s.getJSON(fileKey(id), &f)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, errSkip
		}
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		reason := s.shredReason(&f, func(sid SendID) SendStatus {
			rec, err := s.readSend(sid)
			if err != nil {
				return "" // gone: it needs nothing
			}
			return rec.Status(now)
		}, now)
		if reason == "" {
			return raftfsm.Batch{}, errSkip
		}
		shredded, err := s.blobs.ShredManifest(f.Manifest)
		if err != nil {
			return raftfsm.Batch{}, fmt.Errorf("shred manifest of %s: %w", id, err)
		}
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(fileKey(id), ver), condAbsent(tombKey(id))},
			Ops: []raftfsm.Op{
				del(fileKey(id)),
				put(tombKey(id), tombstone{ID: id, Owner: f.Owner, Shredded: shredded, Reason: reason, At: now}),
			},
			Audit: audit(now, "system", "file.shred", string(id), map[string]any{
				"name": f.Name, "size": f.Size, "sha256": f.SHA256, "reason": reason, "sends": f.Sends,
			}),
		}
		release, err := s.releaseOps(f.Owner, f.Size)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		b.Conds = append(b.Conds, release.Conds...)
		b.Ops = append(b.Ops, release.Ops...)
		return b, nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	if err == nil {
		s.logger.Info("file key destroyed", keyFileID, id)
	}
	return err == nil, err
}

// finishTombstones deletes the shards each tombstone names, then the tombstone.
func (s *Service) finishTombstones(ctx context.Context) (int, error) {
	var tombs []tombstone
	err := scanJSON(s.store, prefixTomb, func(t *tombstone, _ uint64) error {
		tombs = append(tombs, *t)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list tombstones: %w", err)
	}
	var errs []error
	done := 0
	for _, t := range tombs {
		if ctx.Err() != nil {
			break
		}
		action := "file.delete"
		if t.Upload {
			action = "upload.discard"
			err = s.blobs.DiscardUpload(ctx, t.Shredded)
		} else {
			err = s.blobs.DeleteFile(ctx, t.Shredded)
		}
		if err != nil {
			s.logger.Warn("shards not deleted yet; next sweep retries", keyFileID, t.ID, keyError, err)
			errs = append(errs, fmt.Errorf("delete shards of %s: %w", t.ID, err))
			continue
		}
		_, err := s.store.Propose(ctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondPresent, Key: tombKey(t.ID)}},
			Ops:   []raftfsm.Op{del(tombKey(t.ID))},
			Audit: audit(s.clock(), "system", action, string(t.ID), map[string]any{"reason": t.Reason}),
		})
		if errors.Is(err, raftfsm.ErrConflict) {
			continue // another sweep finished it
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove tombstone of %s: %w", t.ID, err))
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// dropGrants deletes the grants past their expiry.
func (s *Service) dropGrants(ctx context.Context, now time.Time) (int, error) {
	var keys [][]byte
	err := s.store.Scan([]byte(prefixGrant), func(item raftfsm.Item) error {
		var g grantRecord
		if err := json.Unmarshal(item.Value, &g); err != nil || !now.Before(g.Expires) {
			keys = append(keys, slices.Clone(item.Key))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list grants: %w", err)
	}
	done := 0
	for chunk := range slices.Chunk(keys, 1024) {
		b := raftfsm.Batch{Audit: audit(now, "system", "link.grant_expire", "", map[string]any{"count": len(chunk)})}
		for _, k := range chunk {
			b.Ops = append(b.Ops, del(k))
		}
		if _, err := s.store.Propose(ctx, b); err != nil {
			return done, fmt.Errorf("drop expired grants: %w", err)
		}
		done += len(chunk)
	}
	return done, nil
}

// Job runs Sweep every Config.SweepInterval, and soon after Trigger. Run it on every node:
// on a follower a sweep finds it cannot propose and waits for the next tick.
type Job struct {
	svc      *Service
	interval time.Duration
	logger   *slog.Logger
	kick     chan struct{} // buffered, one pending trigger

	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

// NewJob returns a Job sweeping svc; it does nothing until Run or Start.
func NewJob(svc *Service) *Job {
	return &Job{
		svc:      svc,
		interval: svc.cfg.SweepInterval,
		logger:   svc.logger.With("job", "sweep"),
		kick:     make(chan struct{}, 1),
	}
}

// Trigger asks for a sweep soon (a send was used up); it never blocks.
func (j *Job) Trigger() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// Run sweeps at once, then on every tick and trigger, until ctx is done; it returns nil
// then. The caller owns the goroutine that runs it.
func (j *Job) Run(ctx context.Context) error {
	t := time.NewTicker(j.interval)
	defer t.Stop()
	for {
		j.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-j.kick:
		}
	}
}

func (j *Job) once(ctx context.Context) {
	rep, err := j.svc.Sweep(ctx)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raftfsm.ErrNoLeader):
		j.logger.Debug("sweep skipped: not the leader")
	case err != nil:
		j.logger.Warn("sweep incomplete; next run retries", keyError, err)
	}
	if rep != (SweepReport{}) {
		j.logger.Info("sweep", "links_closed", rep.LinksClosed, "files_shredded", rep.FilesShredded,
			"uploads_expired", rep.UploadsExpired, "shards_deleted", rep.ShardsDeleted, "grants_removed", rep.GrantsRemoved)
	}
}

// Start runs Run in a goroutine that the Job owns, until Stop. Start twice is a no-op.
func (j *Job) Start(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done != nil {
		return
	}
	ctx, j.cancel = context.WithCancel(ctx)
	j.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		_ = j.Run(ctx) // returns nil when ctx is done
	}(j.done)
}

// Stop stops the goroutine Start began and waits for it to return.
func (j *Job) Stop() {
	j.mu.Lock()
	cancel, done := j.cancel, j.done
	j.cancel, j.done = nil, nil
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
