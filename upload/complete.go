package upload

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"valise/blobstore"
	"valise/scan"
	"valise/transfer"
	"valise/userid"
)

// The end of an upload: commit, the verdict (live or by a rescan from the stored blocks), and
// the record that turns the upload into a file.

// complete commits the file and turns the upload into a file, with the live scan's verdict
// when it comes within LiveGrace, else pending (a background job then scans it). On error the
// upload stays at its recorded state, from which the client's retry resumes (reopening the
// committed shards); the manifest is returned when the commit happened.
func (u *Pipeline) complete(ctx context.Context, principal userid.ID, up transfer.Upload, o *openUpload) (blobstore.Manifest, error) {
	m, err := o.w.Commit(ctx)
	if errors.Is(err, blobstore.ErrHealNeeded) {
		u.logger.Warn("upload committed without every shard: heal needed", keyFileID, up.ID, keyError, err)
	} else if err != nil {
		u.rollback(ctx, principal, o, up)
		return blobstore.Manifest{}, fmt.Errorf("complete upload %s: commit: %w", up.ID, err)
	}
	c := committed{m: m, live: u.liveVerdict(o)}
	if c.live != nil && c.live.ready() {
		if !c.live.needsRescan {
			c.known, c.sv = true, c.live.v
		} else {
			u.logger.Info("live scan could not follow: the stored blocks will be rescanned", keyFileID, up.ID, keyError, c.live.err)
		}
		c.live = nil
	}
	if err := u.record(ctx, principal, up, o.lease, c); err != nil {
		o.done = &c
		return m, err
	}
	return m, nil
}

// liveVerdict ends o's live scan, if it followed the whole file, and waits at most LiveGrace
// for its verdict; nil when there is no live scan to wait for.
func (u *Pipeline) liveVerdict(o *openUpload) *liveScan {
	tee := o.tee
	if tee == nil {
		return nil
	}
	o.tee = nil
	if tee.GaveUp() {
		tee.Close()
		return nil
	}
	ls := u.finishLive(tee)
	if ls == nil || u.cfg.LiveGrace <= 0 {
		return ls
	}
	t := time.NewTimer(u.cfg.LiveGrace)
	defer t.Stop()
	select {
	case <-ls.done:
	case <-t.C:
	}
	return ls
}

// record turns the upload into a file with c's manifest and verdict, or VerdictPending
// (CompleteUpload); a pending file goes to the background scan.
func (u *Pipeline) record(ctx context.Context, principal userid.ID, up transfer.Upload, h *held, c committed) error {
	mb, err := c.m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("complete upload %s: %w", up.ID, err)
	}
	v, reason := transfer.VerdictPending, ""
	if c.known {
		v, reason = fromScan(c.sv)
	} else {
		u.track(up.ID) // before the record: RescanHeld must not queue it too
	}
	f, err := u.svc.CompleteUploadLeased(ctx, principal, h.lease(), transfer.Completion{
		Manifest: mb, SHA256: hex.EncodeToString(c.m.SHA256[:]), Verdict: v, VerdictReason: reason,
	})
	if err != nil {
		if !c.known {
			u.untrack(up.ID)
		}
		return fmt.Errorf("complete upload %s: %w", up.ID, err)
	}
	u.forget(h) // deleted with the upload
	// The manifest is recorded: the staged tails kept for a resume after a crash between
	// Commit and CompleteUpload are no longer needed. A failure leaves them to CleanOrphans.
	if err := u.blobs.ReleaseStaged(ctx, c.m); err != nil {
		u.logger.Warn("release staged tails", keyFileID, up.ID, keyError, err)
	}
	if !c.known {
		u.logger.Info("upload complete, scan pending", keyFileID, up.ID, keySize, f.Size, keyLive, c.live != nil)
		if c.live != nil {
			u.awaitLive(f.ID, c.live)
		} else {
			u.push(f.ID)
		}
		return nil
	}
	u.logger.Info("upload complete", keyFileID, up.ID, keySize, f.Size, keyVerdict, c.sv.String(), keyLive, true)
	u.notifySettled()
	u.finished(ctx, Finished{File: f, Signature: infectedSignature(c.sv), Live: true})
	return nil
}

// finishCommitted answers the retry of a last chunk whose file was committed but not
// recorded: the chunk must hold exactly the committed bytes from the recorded offset to the
// end (they are read back and compared), and the completion is recorded again.
func (u *Pipeline) finishCommitted(ctx context.Context, principal userid.ID, up transfer.Upload, o *openUpload, chunk Chunk) (int64, error) {
	id := up.ID
	same, rerr := u.sameAsStored(ctx, o.done.m, up.Offset, chunk)
	verr := chunk.Verify()
	pctx, cancel := u.persistCtx(ctx)
	defer cancel()
	switch {
	case verr != nil:
		u.keep(id, o)
		return up.Offset, fmt.Errorf("write %s at %d: chunk refused: %w", id, up.Offset, verr)
	case rerr != nil:
		u.keep(id, o)
		return up.Offset, fmt.Errorf("write %s at %d: the file is stored, resend its last chunk whole: %w", id, up.Offset, rerr)
	case !same:
		// The client changed the file under a committed upload: nothing can be resumed.
		u.keep(id, o)
		return up.Offset, fmt.Errorf("write %s at %d: %w: the bytes differ from those stored", id, up.Offset, transfer.ErrOffsetMismatch)
	}
	if err := u.record(pctx, principal, up, o.lease, *o.done); err != nil {
		u.keep(id, o)
		return up.Offset, err
	}
	return up.Size, nil
}

// sameAsStored reads the chunk to its end and reports whether it holds exactly the stored
// bytes of m from offset to the end. rerr is the chunk's read error, or the blobstore's.
func (u *Pipeline) sameAsStored(ctx context.Context, m blobstore.Manifest, offset int64, chunk Chunk) (same bool, rerr error) {
	r, err := u.blobs.Open(ctx, m)
	if err != nil {
		return false, err
	}
	defer r.Close()
	if _, err := r.Seek(offset, io.SeekStart); err != nil {
		return false, err
	}
	bp := u.bufs.Get().(*[]byte)
	defer u.bufs.Put(bp)
	stored := make([]byte, len(*bp))
	same = true
	left := m.Size - offset
	for {
		p := *bp
		n, err := chunk.Read(p)
		if n > 0 {
			if int64(n) > left {
				same, n = false, int(left)
			}
			if _, serr := io.ReadFull(r, stored[:n]); serr != nil {
				return false, serr
			}
			same = same && bytes.Equal(p[:n], stored[:n])
			left -= int64(n)
		}
		if err == io.EOF {
			if same && left > 0 {
				return false, io.ErrUnexpectedEOF
			}
			return same, nil
		}
		if err != nil {
			return false, err
		}
		if !same {
			return false, nil
		}
	}
}

func (u *Pipeline) finished(ctx context.Context, f Finished) {
	// The verdict may settle sends that waited for the antivirus (issue 16 item 3); what
	// fails here, SettleWaitingSends settles later.
	settled, err := u.svc.SettleSendsOf(ctx, f.File.ID)
	if err != nil {
		u.logger.Warn("sends waiting for this file not settled yet", keyFileID, f.File.ID, keyError, err)
	}
	f.Sends = settled
	if u.cfg.OnFinished != nil {
		u.cfg.OnFinished(ctx, f)
	}
}

func infectedSignature(v scan.Verdict) string {
	if v.Kind == scan.KindInfected {
		return v.Signature
	}
	return ""
}

func (u *Pipeline) client() *scan.Client {
	if u.scanner == nil {
		return nil
	}
	return u.scanner.Client()
}

// rescan scans a committed file from its stored blocks: one stream up to ScanLimit, windows
// beyond (or, under Policy.SkipLargeScan, NotScanned(ReasonTooLarge) without scanning). No
// scanner, or a clamd that cannot be reached, gives NotScanned(ReasonScannerDown); any other
// failure (a bad or missing reply, unreadable blocks, a scan past ScanTimeout) gives
// NotScanned(ReasonScanError), which no policy releases. Either way the file is held, and
// RescanHeld tries again.
func (u *Pipeline) rescan(ctx context.Context, m blobstore.Manifest) scan.Verdict {
	if m.Size > u.cfg.ScanLimit && u.svc.Policy().SkipLargeScan {
		return scan.NotScanned(scan.ReasonTooLarge)
	}
	c := u.client()
	if c == nil {
		return scan.NotScanned(scan.ReasonScannerDown)
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.ScanTimeout)
	defer cancel()
	var v scan.Verdict
	var err error
	if m.Size <= u.cfg.ScanLimit {
		var r *blobstore.Reader
		if r, err = u.blobs.Open(ctx, m); err == nil {
			v, err = c.Scan(ctx, r)
			r.Close()
		}
	} else {
		open := func(off, n int64) (io.ReadCloser, error) {
			r, err := u.blobs.Open(ctx, m)
			if err != nil {
				return nil, err
			}
			if _, err := r.Seek(off, io.SeekStart); err != nil {
				r.Close()
				return nil, err
			}
			return r, nil
		}
		v, err = c.ScanWindows(ctx, open, m.Size, u.cfg.ScanWindow, u.cfg.ScanOverlap)
	}
	if err != nil {
		if errors.Is(err, scan.ErrScannerDown) {
			u.logger.Warn("rescan: the scanner is down: file held", keyFileID, m.FileID, keyError, err)
			return scan.NotScanned(scan.ReasonScannerDown)
		}
		u.logger.Warn("rescan failed: file held (scan error)", keyFileID, m.FileID, keyError, err)
		return scan.NotScanned(scan.ReasonScanError)
	}
	return v
}

// fromScan turns a scan verdict into the recorded verdict and reason.
func fromScan(v scan.Verdict) (transfer.Verdict, string) {
	var reason string
	if v.TestSignaturesOnly {
		reason = transfer.ReasonTestSignaturesOnly
	}
	switch v.Kind {
	case scan.KindClean:
		return transfer.VerdictClean, reason
	case scan.KindCleanInWindows:
		return transfer.VerdictCleanWindows, reason
	case scan.KindInfected:
		return transfer.VerdictInfected, v.Signature
	case scan.KindNotScanned:
		return transfer.VerdictNotScanned, v.Reason.Code()
	}
	return transfer.VerdictNotScanned, scan.ReasonScanError.Code() // no verdict: never released
}
