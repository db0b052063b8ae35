package node

import (
	"context"
	"errors"
	"time"

	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// Degraded files shared through Raft. A read on any node that meets a missing or corrupt shard
// marks the file degraded (blobstore's SetHealNeeded), but only the leader runs the repair
// jobs: a follower's mark kept in its memory would never be healed (the leader's heal checks
// shard files, not the bit rot the read met) nor cleared. So every mark is published as
// repair/degraded/<file ID> (the time it was met); the leader's jobs heal the files marked there
// and delete the mark of a file they healed, and degraded_files on every node counts the marks
// in Raft with the ones not yet published. r.degraded holds the marks not yet published (and
// the failures of the jobs run here).

// keyDegraded prefixes the published marks.
const keyDegraded = "repair/degraded/"

// markTimeout bounds one publication of the marks.
const markTimeout = 10 * time.Second

// startMarks starts the goroutine publishing the marks, woken by markDegraded and retrying every
// repairTick; it ends with the repairer.
func (r *repairer) startMarks() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(repairTick)
		defer t.Stop()
		for {
			r.publishMarks(r.ctx)
			select {
			case <-r.ctx.Done():
				return
			case <-r.markKick:
			case <-t.C:
			}
		}
	}()
}

// wakeMarks asks the publisher to run now.
func (r *repairer) wakeMarks() {
	select {
	case r.markKick <- struct{}{}:
	default:
	}
}

// publishMarks writes the unpublished marks into Raft and forgets them locally once there; what
// fails (no leader) is kept for the next run.
func (r *repairer) publishMarks(ctx context.Context) {
	r.mu.Lock()
	marks := make(map[blobstore.FileID]time.Time, len(r.degraded))
	for id, since := range r.degraded {
		marks[id] = since
	}
	r.mu.Unlock()
	for id, since := range marks {
		if ctx.Err() != nil {
			return
		}
		r.publishMark(ctx, id, since)
	}
}

// publishMark publishes file id's mark met at since, unless a heal cleared it meanwhile.
func (r *repairer) publishMark(ctx context.Context, id blobstore.FileID, since time.Time) {
	r.marksMu.Lock()
	defer r.marksMu.Unlock()
	r.mu.Lock()
	still := r.degraded[id].Equal(since)
	r.mu.Unlock()
	if !still {
		return
	}
	key := []byte(keyDegraded + string(id))
	if _, err := r.n.store.Get(key); err != nil {
		if !errors.Is(err, raftfsm.ErrNotFound) {
			return
		}
		v := []byte(since.UTC().Format(time.RFC3339Nano))
		pctx, cancel := context.WithTimeout(ctx, markTimeout)
		_, err = r.n.store.Propose(pctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: key}},
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: v}},
			Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "repair.degraded", Target: string(id)},
		})
		cancel()
		if err != nil && !errors.Is(err, raftfsm.ErrConflict) {
			if ctx.Err() == nil {
				r.n.logger.Warn("publish a degraded file for the leader's heal; retried", logFileID, id, logkey.Err, err)
			}
			return
		}
	}
	r.mu.Lock()
	if r.degraded[id].Equal(since) {
		delete(r.degraded, id)
	}
	r.mu.Unlock()
}

// sharedMark returns the version of file id's published mark, 0 when there is none.
func (r *repairer) sharedMark(id blobstore.FileID) uint64 {
	it, err := r.n.store.Get([]byte(keyDegraded + string(id)))
	if err != nil {
		return 0
	}
	return it.Version
}

// clearMarks forgets file id's marks met before before (a heal of the file that ended then
// succeeded: what a read met meanwhile was repaired by it), here and in Raft. A mark met later
// stays for the next run.
func (r *repairer) clearMarks(ctx context.Context, id blobstore.FileID, before time.Time) {
	r.marksMu.Lock()
	defer r.marksMu.Unlock()
	r.clearDegraded(id)
	key := []byte(keyDegraded + string(id))
	it, err := r.n.store.Get(key)
	if err != nil {
		return
	}
	if since, err := time.Parse(time.RFC3339Nano, string(it.Value)); err == nil && !since.Before(before) {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, markTimeout)
	defer cancel()
	_, err = r.n.store.Propose(pctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: it.Version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: key}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "repair.healed", Target: string(id)},
	})
	if err != nil && !errors.Is(err, raftfsm.ErrConflict) && ctx.Err() == nil {
		r.n.logger.Warn("clear a healed file's degraded mark; the next heal does", logFileID, id, logkey.Err, err)
	}
}

// sharedMarks returns the published marks: file ID → version.
func (r *repairer) sharedMarks() map[blobstore.FileID]uint64 {
	out := map[blobstore.FileID]uint64{}
	r.n.store.Scan([]byte(keyDegraded), func(it raftfsm.Item) error {
		out[blobstore.FileID(it.Key[len(keyDegraded):])] = it.Version
		return nil
	})
	return out
}

// clearGoneMarks deletes the published marks of files that are not stored any more (seen is
// every stored file, listed by a job that started at started, after the marks it clears).
func (r *repairer) clearGoneMarks(ctx context.Context, seen map[blobstore.FileID]bool, started time.Time) {
	for id := range r.sharedMarks() {
		if !seen[id] {
			r.clearMarks(ctx, id, started)
		}
	}
}
