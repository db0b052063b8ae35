package upload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"valise/blobstore"
	"valise/transfer"
	"valise/userid"
)

// Upload leases (issue 18): the tus upload URL works on any node, so before a Pipeline opens
// or resumes a writer it takes the upload's lease through Raft (transfer.AcquireLease), which
// also claims the write generation the blobstore resumes at (blobstore.AtLeastGeneration): two
// nodes never write one upload at once, and a generation is never used twice even by nodes
// that read stale shard headers. The lease is held as long as the writer stays open:
//
//   - renewed every LeaseTTL/3 while a Write runs on it, and at the start of each Write on a
//     writer kept open (which also checks that no other node took it meanwhile: then the
//     writer is dropped and the upload resumed from its record);
//   - not renewed while the writer waits for the next PATCH, so another node may take the
//     upload over at most LeaseTTL after the last PATCH here (a client that moved, a node
//     killed -9 mid-upload);
//   - released when the writer is closed (evicted, idle, Terminate, Close), and deleted with
//     the upload when it completes.
//
// Another node's live lease makes Write answer transfer.ErrLocked (tus: 423 Locked), which tus
// clients retry (tus-js-client retries 409 and 423 with its retryDelays, 0/1/3/5 s by
// default): the default LeaseTTL, 5 s, lets an upload whose node died resume elsewhere within
// those retries. Every record of progress or completion is fenced by the lease
// (RecordProgressLeased, CompleteUploadLeased), and the shard files refuse the pieces of an
// older generation (blobstore's generation fence), so a holder that paused past its lease can
// neither record nor overwrite what the next holder wrote.

// held is a lease this Pipeline holds on an upload, shared by the upload's writer (its Writes)
// and the renewer.
type held struct {
	mu   sync.Mutex // guards l and lost
	l    transfer.Lease
	lost error // set once a renewal found the lease taken over or gone
}

func (h *held) lease() transfer.Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.l
}

func (h *held) lostErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// randomNode names a Pipeline whose Config names no node: unique, so that it never takes
// another's lease back as its own.
func randomNode() string {
	var b [8]byte
	rand.Read(b[:])
	return "pipeline-" + hex.EncodeToString(b[:])
}

// acquire takes id's lease for this node, claiming a write generation of at least atLeast,
// and registers it for the renewer. transfer.ErrLocked while another node holds it.
func (u *Pipeline) acquire(ctx context.Context, principal userid.ID, id transfer.FileID, atLeast uint32) (*held, error) {
	l, err := u.svc.AcquireLease(ctx, principal, id, u.node, u.cfg.LeaseTTL, atLeast)
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", id, err)
	}
	h := &held{l: l}
	u.mu.Lock()
	u.leases[id] = h
	u.mu.Unlock()
	return h, nil
}

// resume resumes the writer of st under h: at the generation h claimed or above, and when the
// shard headers made the blobstore go higher, that generation is claimed too before anything
// is written.
func (u *Pipeline) resume(ctx context.Context, h *held, st blobstore.ResumeState) (*blobstore.Writer, error) {
	l := h.lease()
	w, err := u.blobs.Resume(ctx, st, blobstore.AtLeastGeneration(l.Gen))
	if err != nil {
		return nil, err
	}
	if g := w.Generation(); g > l.Gen {
		nl, err := u.svc.ClaimGeneration(ctx, l, g)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("claim generation %d: %w", g, err)
		}
		h.mu.Lock()
		h.l = nl
		h.mu.Unlock()
	}
	return w, nil
}

// confirm renews h at the start of a Write on a writer kept open: an error when another node
// took the upload over meanwhile (the writer must then be dropped) or the metadata cannot say.
func (u *Pipeline) confirm(ctx context.Context, h *held) error {
	if err := h.lostErr(); err != nil {
		return err
	}
	nl, err := u.svc.RenewLease(ctx, h.lease(), u.cfg.LeaseTTL)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if errors.Is(err, transfer.ErrLocked) {
			h.lost = err
		}
		return err
	}
	h.l = nl
	return nil
}

// release forgets h and ends it in the metadata (best effort: an unreleased lease expires, so
// it waits no longer than LeaseTTL, nor PersistTimeout: Close must not hang on a metadata store
// that has no leader).
func (u *Pipeline) release(h *held) {
	if h == nil {
		return
	}
	l := h.lease()
	u.mu.Lock()
	if u.leases[l.Upload] == h {
		delete(u.leases, l.Upload)
	}
	u.mu.Unlock()
	if h.lostErr() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.base), min(u.cfg.LeaseTTL, u.cfg.PersistTimeout))
	defer cancel()
	if err := u.svc.ReleaseLease(ctx, l); err != nil {
		u.logger.Warn("upload lease not released: it expires", keyFileID, l.Upload, keyError, err)
	}
}

// forget drops h once the upload is no more (completed, cancelled): its lease went with it.
func (u *Pipeline) forget(h *held) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.lost = errLeaseEnded
	id := h.l.Upload
	h.mu.Unlock()
	u.mu.Lock()
	if u.leases[id] == h {
		delete(u.leases, id)
	}
	u.mu.Unlock()
}

var errLeaseEnded = errors.New("upload: lease ended with its upload")

// renewLeases renews, every LeaseTTL/3 until Close, the leases of the uploads a Write is
// writing. A lease another node took over is marked lost: the Write's record then fails, and
// the next Write resumes from the record if it can take the lease back.
func (u *Pipeline) renewLeases() {
	t := time.NewTicker(u.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-u.base.Done():
			return
		case <-t.C:
		}
		u.mu.Lock()
		var busy []*held
		for id, h := range u.leases {
			if u.busy[id] {
				busy = append(busy, h)
			}
		}
		u.mu.Unlock()
		for _, h := range busy {
			if h.lostErr() != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(u.base, u.cfg.LeaseTTL/3)
			nl, err := u.svc.RenewLease(ctx, h.lease(), u.cfg.LeaseTTL)
			cancel()
			h.mu.Lock()
			switch {
			case err == nil:
				h.l = nl
			case errors.Is(err, transfer.ErrLocked):
				h.lost = err
				u.logger.Warn("upload lease lost to another node", keyFileID, h.l.Upload, keyError, err)
			default:
				u.logger.Warn("upload lease not renewed: retrying", keyFileID, h.l.Upload, keyError, err)
			}
			h.mu.Unlock()
		}
	}
}
