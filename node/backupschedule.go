package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"valise/adminapi"
	"valise/backup"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// Scheduled backups: every backup.interval the leader writes a backup encrypted to
// backup.recipient into backup.dir, then deletes its own oldest ones there beyond backup.keep.
// The last run is read from the records in Raft (backup/runs/), so the schedule survives
// restarts and leader changes.

// backupTick is how often the leader looks whether a scheduled backup is due.
const backupTick = time.Minute

// backupRetry is how soon a failed scheduled backup is tried again (sooner than
// backup.interval when that is longer).
const backupRetry = 10 * time.Minute

// keepFailed is how many records of failed scheduled backups are kept (the journal keeps
// them all): a schedule failing every backupRetry would otherwise grow backup/runs/ forever.
const keepFailed = 20

// backupScheduler runs the scheduled backups on the leader.
type backupScheduler struct {
	n    *instance        // never nil once started
	tick time.Duration    // how often it looks; backupTick but in tests
	now  func() time.Time // the clock of the schedule and of the records; time.Now but in tests
	mu   sync.Mutex       // serialises runs
}

// startBackups starts the schedule, as one of the background jobs.
func (n *instance) startBackups() {
	if n.backups == nil {
		n.backups = &backupScheduler{tick: backupTick, now: time.Now}
	}
	n.backups.n = n
	n.bg.Add(1)
	go n.onLeaderEvery(n.backups.tick, n.backups.runDue)
}

// runDue writes a scheduled backup when one is due, then prunes.
func (s *backupScheduler) runDue() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n
	every, err := parseBackupInterval(n.setting("backup.interval"))
	if err != nil || every == 0 {
		return
	}
	now := s.now()
	recs, err := n.backupRecords()
	if err != nil {
		n.logger.Error("scheduled backup: read the last runs", logkey.Err, err)
		return
	}
	for _, r := range recs {
		if !r.Scheduled {
			continue
		}
		wait := every
		if r.Error != "" {
			wait = min(every, backupRetry)
		}
		if now.Sub(r.Started) < wait {
			return
		}
		break
	}
	rec := adminapi.BackupRecord{ID: backupID(now), Node: n.cfg.Node.ID, Scheduled: true, Started: now.UTC()}
	err = s.write(&rec, now)
	n.finishBackup(rec, err)
	s.prune()
}

// write writes a scheduled backup into backup.dir: DIR/valise-<cluster>-<UTC stamp>.age,
// through a synced .part file renamed into place, the directory synced after.
func (s *backupScheduler) write(rec *adminapi.BackupRecord, now time.Time) (err error) {
	n := s.n
	dir, recipient := n.setting("backup.dir"), n.setting("backup.recipient")
	switch {
	case dir == "":
		return errors.New("backup.interval is set but backup.dir is not: set it to a directory on every node")
	case recipient == "":
		return errors.New("backup.interval is set but backup.recipient is not: set it to the age public key of whoever restores")
	}
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("backup.dir %s: %w", dir, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("backup.dir %s is not a directory", dir)
	}
	s.removeParts(dir)
	name := fmt.Sprintf("valise-%s-%s.age", n.cluster.ID, now.UTC().Format("20060102T150405Z"))
	rec.Path = filepath.Join(dir, name)
	if _, err := os.Lstat(rec.Path); err == nil {
		return fmt.Errorf("%s exists already: a backup is never written over", rec.Path)
	}
	ob, err := n.openBackup(now)
	if err != nil {
		return err
	}
	defer ob.close()
	rec.Index = ob.man.Index
	part := rec.Path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", part, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	if rec.Size, rec.SHA256, err = ob.write(ctxWriter{ctx: n.bgCtx, w: f}, backup.Protection{Recipient: recipient}); err != nil {
		return fmt.Errorf("write %s: %w", part, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", part, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", part, err)
	}
	if err = os.Rename(part, rec.Path); err != nil {
		return fmt.Errorf("rename %s: %w", part, err)
	}
	return syncDir(dir)
}

// removeParts removes what interrupted scheduled backups left in dir.
func (s *backupScheduler) removeParts(dir string) {
	parts, _ := filepath.Glob(filepath.Join(dir, "valise-"+s.n.cluster.ID+"-*.age.part"))
	for _, p := range parts {
		if err := os.Remove(p); err == nil {
			s.n.logger.Info("removed an interrupted scheduled backup", "path", p)
		}
	}
}

// prune deletes this node's oldest scheduled backups in backup.dir beyond backup.keep, and
// marks their records deleted (journalled as backup.prune).
func (s *backupScheduler) prune() {
	n := s.n
	keep, err := strconv.Atoi(n.setting("backup.keep"))
	if err != nil || keep < 1 {
		keep = 1
	}
	dir := n.setting("backup.dir")
	recs, err := n.backupRecords()
	if err != nil {
		n.logger.Error("prune the backups: read the records", logkey.Err, err)
		return
	}
	var kept, failed int
	var gone []adminapi.BackupRecord
	var forget []string
	for _, r := range recs {
		if r.Scheduled && r.Error != "" {
			if failed++; failed > keepFailed {
				forget = append(forget, r.ID)
			}
			continue
		}
		if !r.Scheduled || r.Node != n.cfg.Node.ID || r.Error != "" || r.Deleted || r.Path == "" || filepath.Dir(r.Path) != filepath.Clean(dir) {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		if err := os.Remove(r.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.logger.Error("prune the backups: delete an old backup", "path", r.Path, logkey.Err, err)
			continue
		}
		r.Deleted = true
		gone = append(gone, r)
	}
	if len(forget) > 0 {
		if err := n.forgetBackupRecords(forget); err != nil {
			n.logger.Error("prune the backups: forget old failures", logkey.Err, err)
		}
	}
	if len(gone) == 0 {
		return
	}
	if err := syncDir(dir); err != nil {
		n.logger.Warn("prune the backups", logkey.Err, err)
	}
	if err := n.proposeBackupRecords(auditBackupPrune, gone...); err != nil {
		n.logger.Error("prune the backups: record the deletions", logkey.Err, err)
		return
	}
	n.logger.Info("pruned old backups", "count", len(gone), "keep", keep)
}

// forgetBackupRecords deletes the records of old failed backups (their backup.fail entries
// stay in the journal), journalled as backup.prune.
func (n *instance) forgetBackupRecords(ids []string) error {
	b := raftfsm.Batch{Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: auditBackupPrune, Target: strings.Join(ids, ",")}}
	for _, id := range ids {
		b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: []byte(keyBackupRuns + id)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := n.store.Propose(ctx, b); err != nil {
		return fmt.Errorf("forget the records of failed backups: %w", err)
	}
	return nil
}

// ctxWriter writes to w until ctx ends: a backup being written stops with the node.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (cw ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, fmt.Errorf("the node is stopping: %w", err)
	}
	return cw.w.Write(p)
}

// syncDir syncs a directory, so that a rename or a removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// parseBackupInterval parses backup.interval: "" or "0" for no schedule, else an interval as
// heal.interval takes.
func parseBackupInterval(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return 0, nil
	}
	return parseInterval(v)
}

func validBackupInterval(v string) error { _, err := parseBackupInterval(v); return err }

// validBackupDir accepts "" or an absolute, clean path.
func validBackupDir(v string) error {
	if v == "" {
		return nil
	}
	if err := validAbsPath(v); err != nil {
		return err
	}
	if filepath.Clean(v) != v || slices.Contains(strings.Split(v, "/"), "..") {
		return fmt.Errorf("%q is not a clean absolute path (write it as %s)", v, filepath.Clean(v))
	}
	return nil
}
