package upload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"valise/blobstore"
	"valise/scan"
	"valise/transfer"
	"valise/userid"
)

// Background scanning. The Write that completes an upload records the file with
// VerdictPending unless the live scan already gave its verdict, and returns; the verdict
// comes later from one of two background jobs, both owned by the Pipeline (started under
// qmu while it is open, stopped by Close, which waits for them):
//
//   - a live wait, when the live scan saw every byte but clamd had not answered yet: it waits
//     for the StreamScanner's Finish (bounded by ScanTimeout; it does not hold a worker, since
//     clamd is already scanning the stream) and, if the live scan cannot give a verdict after
//     all, turns into a rescan;
//   - a rescan, run by one of ScanWorkers workers, from the stored blocks (one stream up to
//     ScanLimit, windows beyond).
//
// Either records the verdict only if the file is still pending (settleVerdict), then calls
// OnFinished. A file is tracked from just before its pending record until its job ends, so
// that the sweeps for forgotten pending files (at New, and in every RescanHeld) do not
// scan it twice. What Close interrupts stays pending in the metadata and is queued again by
// the next Pipeline; a pending file whose job was lost elsewhere (another node's Pipeline, a
// completion that timed out yet committed) is queued again by the next RescanHeld.

// waitVerdictPoll is how often WaitVerdict rereads a pending file: its verdict may be
// recorded by another node's Pipeline, which this one hears nothing of.
const waitVerdictPoll = 250 * time.Millisecond

// liveScan is a live scan whose Finish runs in the background; its fields are set before
// done closes and only read after.
type liveScan struct {
	done        chan struct{}
	v           scan.Verdict
	needsRescan bool
	err         error
}

// ready reports whether the live scan finished, without waiting.
func (l *liveScan) ready() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// goBackground runs f on a goroutine owned by the Pipeline; false (and f not run) once Close
// began.
func (u *Pipeline) goBackground(f func()) bool {
	u.qmu.Lock()
	defer u.qmu.Unlock()
	if u.stopped {
		return false
	}
	u.wg.Add(1)
	u.running.Add(1)
	go func() {
		defer u.wg.Done()
		defer u.running.Add(-1)
		f()
	}()
	return true
}

// startScanWorkers starts the ScanWorkers rescan workers.
func (u *Pipeline) startScanWorkers() {
	for range u.cfg.ScanWorkers {
		u.goBackground(u.scanWorker)
	}
}

// finishLive marks the end of tee's stream and waits for its verdict in the background,
// for at most ScanTimeout. nil once Close began (tee is then closed).
func (u *Pipeline) finishLive(tee *scan.StreamScanner) *liveScan {
	ls := &liveScan{done: make(chan struct{})}
	ok := u.goBackground(func() {
		defer close(ls.done)
		ctx, cancel := context.WithTimeout(u.base, u.cfg.ScanTimeout)
		defer cancel()
		ls.v, ls.needsRescan, ls.err = tee.Finish(ctx)
	})
	if !ok {
		tee.Close()
		return nil
	}
	return ls
}

// track marks id as followed by a job of this Pipeline; false when it already is.
func (u *Pipeline) track(id transfer.FileID) bool {
	u.qmu.Lock()
	defer u.qmu.Unlock()
	if u.tracked[id] {
		return false
	}
	u.tracked[id] = true
	return true
}

func (u *Pipeline) untrack(id transfer.FileID) {
	u.qmu.Lock()
	delete(u.tracked, id)
	u.qmu.Unlock()
}

// push queues a rescan of the tracked file id; once Close began, id is left pending (the
// next Pipeline queues it again).
func (u *Pipeline) push(id transfer.FileID) {
	u.qmu.Lock()
	defer u.qmu.Unlock()
	if u.stopped {
		delete(u.tracked, id)
		return
	}
	u.queue = append(u.queue, id)
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// awaitLive waits in the background for the live scan of the tracked file id, records its
// verdict, or queues a rescan when the live scan could not give one.
func (u *Pipeline) awaitLive(id transfer.FileID, ls *liveScan) {
	ok := u.goBackground(func() {
		<-ls.done // Finish ends by ScanTimeout, or at Close
		if !ls.needsRescan {
			defer u.untrack(id)
			u.settle(id, ls.v, true)
			return
		}
		if u.base.Err() != nil {
			u.untrack(id) // closing: left pending for the next Pipeline
			return
		}
		u.logger.Info("live scan could not follow: rescanning the stored blocks", keyFileID, id, keyError, ls.err)
		u.push(id)
	})
	if !ok {
		u.untrack(id)
	}
}

// nextJob returns the next file to rescan, waiting for one; false once Close began.
func (u *Pipeline) nextJob() (transfer.FileID, bool) {
	for {
		u.qmu.Lock()
		if u.stopped {
			u.qmu.Unlock()
			return "", false
		}
		if len(u.queue) > 0 {
			id := u.queue[0]
			u.queue[0] = ""
			u.queue = u.queue[1:]
			if len(u.queue) > 0 {
				select { // another worker may take the next one
				case u.wake <- struct{}{}:
				default:
				}
			}
			u.qmu.Unlock()
			return id, true
		}
		u.qmu.Unlock()
		select {
		case <-u.wake:
		case <-u.base.Done():
			return "", false
		}
	}
}

// scanWorker rescans queued files until Close.
func (u *Pipeline) scanWorker() {
	for {
		id, ok := u.nextJob()
		if !ok {
			return
		}
		u.rescanPending(id)
	}
}

// rescanPending rescans the tracked pending file id from its stored blocks and records the
// verdict. A file gone, or no longer pending, is skipped; a scan cut by Close leaves the file
// pending.
func (u *Pipeline) rescanPending(id transfer.FileID) {
	defer u.untrack(id)
	f, err := u.svc.FileRecord(id)
	if err != nil {
		if !errors.Is(err, transfer.ErrFileNotFound) {
			u.logger.Warn("pending file unreadable: left for the next RescanHeld", keyFileID, id, keyError, err)
		}
		return
	}
	if f.Verdict != transfer.VerdictPending {
		return
	}
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(f.Manifest); err != nil {
		u.logger.Error("pending file: bad manifest", keyFileID, id, keyError, err)
		return
	}
	sv := u.rescan(u.base, m)
	if u.base.Err() != nil {
		return // closing: the scan was cut, the file stays pending
	}
	u.settle(id, sv, false)
}

// settle records sv as the verdict of the pending file id and calls OnFinished.
func (u *Pipeline) settle(id transfer.FileID, sv scan.Verdict, live bool) {
	ctx, cancel := context.WithTimeout(u.base, u.cfg.PersistTimeout)
	defer cancel()
	v, reason := fromScan(sv)
	f, err := u.svc.SettleVerdict(ctx, id, v, reason)
	switch {
	case errors.Is(err, transfer.ErrFileNotFound), errors.Is(err, transfer.ErrNotPending):
		u.logger.Debug("verdict not recorded: file gone or already scanned", keyFileID, id, keyError, err)
		return
	case err != nil:
		u.logger.Warn("verdict not recorded: the file stays pending until queued again", keyFileID, id, keyError, err)
		return
	}
	u.logger.Info("file scanned", keyFileID, id, keySize, f.Size, keyVerdict, sv.String(), keyLive, live)
	u.notifySettled()
	u.finished(ctx, Finished{File: f, Signature: infectedSignature(sv), Live: live})
}

// notifySettled wakes the WaitVerdict calls of this Pipeline.
func (u *Pipeline) notifySettled() {
	u.qmu.Lock()
	close(u.settled)
	u.settled = make(chan struct{})
	u.qmu.Unlock()
}

func (u *Pipeline) settledChan() <-chan struct{} {
	u.qmu.Lock()
	defer u.qmu.Unlock()
	return u.settled
}

// requeuePending queues a rescan of every pending file that no job of this Pipeline follows,
// and returns how many it queued. It reads the local state.
func (u *Pipeline) requeuePending() (int, error) {
	var ids []transfer.FileID
	err := u.svc.ScanFiles(func(f transfer.File) error {
		if f.Verdict == transfer.VerdictPending {
			ids = append(ids, f.ID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue pending files: %w", err)
	}
	n := 0
	for _, id := range ids {
		if u.track(id) {
			u.push(id)
			n++
		}
	}
	if n > 0 {
		u.logger.Info("pending files queued for scanning", keyCount, n)
	}
	return n, nil
}

// WaitVerdict waits until the owner's file has its verdict (anything but VerdictPending) and
// returns it, or returns ctx's error. ErrFileNotFound for a file that does not exist (an
// upload not complete yet included) or is someone else's. The verdict may come from this
// Pipeline or from another node's: a pending file is reread every 250 ms as well.
func (u *Pipeline) WaitVerdict(ctx context.Context, owner userid.ID, id transfer.FileID) (transfer.Verdict, error) {
	t := time.NewTimer(waitVerdictPoll)
	defer t.Stop()
	for {
		woken := u.settledChan() // before the read: a verdict recorded after it wakes us
		f, err := u.svc.GetFile(ctx, owner, id)
		if err != nil {
			return "", err
		}
		if f.Verdict != transfer.VerdictPending {
			return f.Verdict, nil
		}
		t.Reset(waitVerdictPoll)
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for the verdict of %s: %w", id, ctx.Err())
		case <-woken:
		case <-t.C:
		}
	}
}
