package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"valise/adminapi"
	"valise/backup"
	"valise/internal/buildinfo"
	"valise/internal/logkey"
	"valise/keyring"
	"valise/raftfsm"
)

// Backups (issue 19): any node streams one to the command line through the admin socket
// (Backup); the leader writes the scheduled ones into backup.dir (backupschedule.go). Each is
// recorded in Raft as backup/runs/<id> (adminapi.BackupRecord) and journalled.

// Audit actions of backups.
const (
	auditBackupCreate = "backup.create" // a backup written whole
	auditBackupFail   = "backup.fail"   // a backup that failed, with its error
	auditBackupPrune  = "backup.prune"  // a scheduled backup's file deleted by backup.keep
)

// backupFormat is the Manifest.Format this node writes.
const backupFormat = 1

// recordTimeout bounds recording a backup in Raft.
const recordTimeout = 15 * time.Second

// Version returns the build's version (see internal/buildinfo).
func Version() string { return buildinfo.Version() }

// backupProtection checks a request's protection: exactly one of a passphrase and an age
// X25519 recipient.
func backupProtection(req adminapi.BackupRequest) (backup.Protection, error) {
	switch {
	case req.Passphrase != "" && req.Recipient != "":
		return backup.Protection{}, errors.New("give a passphrase or a recipient, not both")
	case req.Recipient != "":
		if err := validAgeRecipient(req.Recipient); err != nil {
			return backup.Protection{}, err
		}
		return backup.Protection{Recipient: req.Recipient}, nil
	case req.Passphrase != "":
		return backup.Protection{Passphrase: []byte(req.Passphrase)}, nil
	}
	return backup.Protection{}, errors.New("give a passphrase or an age recipient to encrypt the backup with")
}

// validAgeRecipient accepts an age X25519 public key, "age1…" (backup.recipient).
func validAgeRecipient(v string) error {
	if _, err := age.ParseX25519Recipient(v); err != nil {
		return fmt.Errorf("%q is not an age public key (age1…, as age-keygen prints it)", v)
	}
	return nil
}

// openedBackup is a backup ready to be written: the snapshot open, its manifest and keys.
type openedBackup struct {
	snap *raftfsm.Snapshot
	man  backup.Manifest
	keys keyring.Bundle
}

// openBackup opens a snapshot of the metadata and builds the manifest of a backup of it,
// created at now. Close it.
func (n *instance) openBackup(now time.Time) (*openedBackup, error) {
	snap, err := n.store.OpenSnapshot()
	if err != nil {
		return nil, fmt.Errorf("open a snapshot of the metadata: %w", err)
	}
	ob := &openedBackup{snap: snap}
	if err := n.fillManifest(ob, now); err != nil {
		snap.Close()
		return nil, err
	}
	return ob, nil
}

// fillManifest fills ob's manifest and keys from the snapshot's position and the node.
func (n *instance) fillManifest(ob *openedBackup, now time.Time) error {
	info := ob.snap.Info()
	sig, err := n.keys.SignMessage(info.Head.Bytes())
	if err != nil {
		return fmt.Errorf("sign the journal head: %w", err)
	}
	recs, err := nodeRecords(n.store)
	if err != nil {
		return fmt.Errorf("read the node records: %w", err)
	}
	nodes := make([]backup.Node, 0, len(recs))
	for _, r := range recs {
		bn := backup.Node{ID: r.ID, Site: r.Site, Address: r.Cluster, State: r.state(), Disks: []string{}}
		for _, d := range r.Disks {
			bn.Disks = append(bn.Disks, d.ID)
		}
		nodes = append(nodes, bn)
	}
	layout, _ := n.placement.status()
	if ob.keys, err = n.keys.Export(); err != nil {
		return err
	}
	ob.man = backup.Manifest{
		Format:      backupFormat,
		ClusterID:   n.cluster.ID,
		NodeID:      n.cfg.Node.ID,
		Index:       info.Index,
		Term:        info.Term,
		JournalSeq:  info.Head.Seq,
		JournalHash: hex.EncodeToString(info.Head.Hash[:]),
		JournalSig:  sig,
		Nodes:       nodes,
		Layout:      layout.Layout,
		Created:     now.UTC(),
		Version:     Version(),
		SigningKey:  n.keys.SigningFingerprint(),
	}
	return nil
}

// estimate is the backup's estimated size: the snapshot's, with room for age's framing, the
// manifest and the keys; 0 when unknown.
func (ob *openedBackup) estimate() int64 {
	s := ob.snap.EstimatedSize()
	if s <= 0 {
		return 0
	}
	return s + s/4096 + 16<<10
}

// write writes the whole backup to w under p and returns its size and SHA-256 (hex), hashed
// as it goes: nothing of it is held in memory.
func (ob *openedBackup) write(w io.Writer, p backup.Protection) (int64, string, error) {
	hw := &hashWriter{w: w, h: sha256.New()}
	err := backup.Write(hw, p, ob.man, ob.keys, func(sw io.Writer) error {
		_, err := ob.snap.WriteTo(sw)
		return err
	})
	return hw.n, hex.EncodeToString(hw.h.Sum(nil)), err
}

// close releases the snapshot.
func (ob *openedBackup) close() { ob.snap.Close() }

// hashWriter hashes and counts what it writes to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// backupID returns the ID of a backup started at t: "b-<unix nanoseconds>".
func backupID(t time.Time) string { return "b-" + strconv.FormatInt(t.UnixNano(), 10) }

// Backup implements adminapi.Service: a backup of this node's metadata and the cluster's
// keys, streamed to the caller and recorded.
func (s *adminService) Backup(ctx context.Context, req adminapi.BackupRequest, open func(adminapi.BackupStart) io.Writer) error {
	n := s.n
	p, err := backupProtection(req)
	if err != nil {
		return adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
	}
	started := time.Now()
	ob, err := n.openBackup(started)
	if err != nil {
		return translate(err)
	}
	defer ob.close()
	rec := adminapi.BackupRecord{ID: backupID(started), Node: n.cfg.Node.ID, Started: started.UTC(), Index: ob.man.Index}
	w := open(adminapi.BackupStart{ID: rec.ID, Index: rec.Index, SigningKey: ob.man.SigningKey, Estimate: ob.estimate()})
	rec.Size, rec.SHA256, err = ob.write(w, p)
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("the command stopped reading the backup: %w", err)
	}
	n.finishBackup(rec, err)
	return err
}

// finishBackup records a backup that ended with err (nil: whole), and logs it.
func (n *instance) finishBackup(rec adminapi.BackupRecord, err error) {
	if err != nil {
		rec.Error, rec.Size, rec.SHA256 = err.Error(), 0, ""
		n.logger.Error("backup failed", "backup", rec.ID, "path", rec.Path, "scheduled", rec.Scheduled, logkey.Err, err)
	} else {
		rec.Finished = time.Now().UTC()
		n.logger.Info("backup written", "backup", rec.ID, "path", rec.Path, "scheduled", rec.Scheduled, "index", rec.Index, "bytes", rec.Size)
	}
	if err := n.recordBackup(rec); err != nil {
		n.logger.Error("record the backup", "backup", rec.ID, logkey.Err, err)
	}
}

// recordBackup stores rec as backup/runs/<id>, journalled as backup.create, or backup.fail
// for a failed one.
func (n *instance) recordBackup(rec adminapi.BackupRecord) error {
	action := auditBackupCreate
	if rec.Error != "" {
		action = auditBackupFail
	}
	return n.proposeBackupRecords(action, rec)
}

// proposeBackupRecords stores recs in one batch journalled as action (targets: their IDs).
func (n *instance) proposeBackupRecords(action string, recs ...adminapi.BackupRecord) error {
	b := raftfsm.Batch{Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: action}}
	var ids []string
	for _, rec := range recs {
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: []byte(keyBackupRuns + rec.ID), Value: v})
		ids = append(ids, rec.ID)
	}
	if len(recs) == 1 {
		b.Audit.Details, _ = json.Marshal(recs[0])
	}
	b.Audit.Target = strings.Join(ids, ",")
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if _, err := n.store.Propose(ctx, b); err != nil {
		return fmt.Errorf("record backups %s: %w", b.Audit.Target, err)
	}
	return nil
}

// backupRecords returns every recorded backup, newest first.
func (n *instance) backupRecords() ([]adminapi.BackupRecord, error) {
	out := []adminapi.BackupRecord{}
	err := n.store.Scan([]byte(keyBackupRuns), func(it raftfsm.Item) error {
		var rec adminapi.BackupRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		out = append(out, rec)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].ID > out[j].ID
	})
	return out, err
}

// Backups implements adminapi.Service.
func (s *adminService) Backups(context.Context) (adminapi.BackupList, error) {
	recs, err := s.n.backupRecords()
	if err != nil {
		return adminapi.BackupList{}, fmt.Errorf("list the backups: %w", err)
	}
	return adminapi.BackupList{Backups: recs}, nil
}

// backupStatusInto fills status's cluster identity and last backup. A record it cannot read
// is logged: status answers whatever else is wrong.
func (n *instance) backupStatusInto(st *adminapi.Status) {
	st.Cluster = adminapi.ClusterInfo{ID: n.cluster.ID, SigningKey: n.keys.SigningFingerprint()}
	recs, err := n.backupRecords()
	if err != nil {
		n.logger.Warn("status: list the backups", logkey.Err, err)
	}
	if len(recs) > 0 {
		st.LastBackup = &recs[0]
	}
}
