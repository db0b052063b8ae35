package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
	"valise/transfer"
)

// The restore report (issue 19): after a restore, the metadata names files whose shards may be
// on disks not yet re-attached, gone, or all there; the disks hold shard files of files
// uploaded after the backup that nothing names (orphans). restore writes the first report; the
// leader keeps it current while nodes are still away (keepRestoreReport), and `appliance
// orphans delete` removes the orphans. Nothing is left out silently.

// keyRestoreReport holds the adminapi.RestoreReport of the last restore (JSON), written by
// restore and kept up to date by the leader until every file is accounted for.
const keyRestoreReport = "restore/report"

// keyBackupRuns prefixes the adminapi.BackupRecord of each backup (JSON), by ID.
const keyBackupRuns = "backup/runs/"

// prefixOrphansDeleted holds one record per `orphans delete` (orphansDeletion, JSON), by time.
const prefixOrphansDeleted = "restore/orphans-deleted/"

// maxLostFiles bounds RestoreReport.LostFiles.
const maxLostFiles = 100

// How often the leader recomputes the report while it waits for nodes: reportEvery at the
// latest, and within reportPoll of a node's disks answering or its record changing.
const (
	reportEvery = time.Minute
	reportPoll  = 5 * time.Second
	// reportStale is how old the stored Checked may grow while the counts stand: an update
	// that changes nothing but Checked is written (and journalled) only that often.
	reportStale = 15 * time.Minute
)

// fillRestoreCounts computes rep's counts, lost files and orphans: every file the metadata
// in store records (transfer files and selftest files), checked against the shards blobs can
// open (its local disks, and the other nodes' through its DiskSource); a shard on a disk of a
// node in absent counts as waiting for that node. It sets rep.Checked.
func fillRestoreCounts(ctx context.Context, store *raftfsm.Store, blobs *blobstore.Store, absent []string, rep *adminapi.RestoreReport) error {
	files, refs, err := recordedFiles(store)
	if err != nil {
		return err
	}
	nodes, err := nodeRecords(store)
	if err != nil {
		return fmt.Errorf("read the node records: %w", err)
	}
	nodeOf := map[blobstore.DiskID]string{}
	for _, r := range nodes {
		for _, d := range r.Disks {
			nodeOf[blobstore.DiskID(d.ID)] = r.ID
		}
	}
	rep.Complete, rep.Healable, rep.Waiting, rep.Lost = 0, 0, 0, 0
	rep.LostFiles, rep.Orphans = nil, nil
	rep.WaitingNodes = slices.Clone(absent)
	slices.Sort(rep.WaitingNodes)
	for _, f := range files {
		present, err := blobs.Inventory(ctx, f.m)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			present = nil // a manifest that does not parse: nothing can be read
		}
		k := f.m.Layout.K
		waiting := 0
		for i, d := range f.m.Shards {
			if !slices.Contains(present, i) && slices.Contains(absent, nodeOf[d]) {
				waiting++
			}
		}
		switch {
		case len(present) == len(f.m.Shards) && len(present) > 0:
			rep.Complete++
		case len(present) >= k && k > 0:
			rep.Healable++
		case len(present)+waiting >= k && k > 0:
			rep.Waiting++
		default:
			rep.Lost++
			if len(rep.LostFiles) < maxLostFiles {
				rep.LostFiles = append(rep.LostFiles, f.ReportFile)
			}
		}
	}
	if rep.Orphans, err = orphansOf(ctx, blobs, nodes, absent, refs); err != nil {
		return err
	}
	rep.Checked = time.Now().UTC()
	return nil
}

// orphansOf lists the shard files whose file ID refs does not hold, on the disks of the node
// records (but retired disks, removed nodes and the nodes in absent) and blobs' local disks
// that answer.
func orphansOf(ctx context.Context, blobs *blobstore.Store, nodes []nodeRecord, absent []string, refs map[blobstore.FileID]bool) ([]adminapi.Orphan, error) {
	disks := blobs.LocalDisks()
	for _, r := range nodes {
		for _, d := range r.Disks {
			if d.State != diskRetired && r.state() != nodeRemoved && !slices.Contains(absent, r.ID) && !slices.Contains(disks, blobstore.DiskID(d.ID)) {
				disks = append(disks, blobstore.DiskID(d.ID))
			}
		}
	}
	files, err := blobs.ListShardFiles(ctx, disks, func(id blobstore.FileID) bool { return !refs[id] })
	if err != nil && !errors.Is(err, blobstore.ErrDiskUnavailable) {
		return nil, fmt.Errorf("list the shard files: %w", err)
	}
	var out []adminapi.Orphan
	for _, sf := range files {
		if refs[sf.FileID] {
			continue
		}
		o := adminapi.Orphan{FileID: string(sf.FileID), Shards: sf.Shards, Bytes: sf.Bytes}
		for _, d := range sf.Disks {
			o.Disks = append(o.Disks, string(d))
		}
		out = append(out, o)
	}
	return out, nil
}

// storedManifest is a file the metadata records, with its manifest (never log it).
type storedManifest struct {
	id, name, send string // send: the first send holding it, "" for none
	raw            []byte // the manifest, encoded
	version        uint64 // its record's version
	selftest       bool   // a selftest file, else a transfer file
}

// scanManifests calls fn with every file the metadata records: the transfer files, then the
// selftest files. An error from fn stops the scan and is returned.
func scanManifests(store *raftfsm.Store, fn func(storedManifest) error) error {
	err := transfer.ScanStoredFiles(store, func(f transfer.File) error {
		sm := storedManifest{id: string(f.ID), name: f.Name, raw: f.Manifest, version: f.Version}
		if len(f.Sends) > 0 {
			sm.send = string(f.Sends[0])
		}
		return fn(sm)
	})
	if err != nil {
		return fmt.Errorf("list the files: %w", err)
	}
	err = store.Scan([]byte(prefixSelftest), func(it raftfsm.Item) error {
		var rec selftestRecord
		if err := json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		return fn(storedManifest{id: strings.TrimPrefix(string(it.Key), prefixSelftest), name: "selftest",
			raw: rec.Manifest, version: it.Version, selftest: true})
	})
	if err != nil {
		return fmt.Errorf("list the selftest files: %w", err)
	}
	return nil
}

// recordedFile is a file the metadata records, with what names it in a report.
type recordedFile struct {
	adminapi.ReportFile
	m blobstore.Manifest
}

// recordedFiles returns every file with a readable manifest that the metadata records
// (transfer files and selftest files), and the byte store file IDs it references: those
// manifests' (shredded ones too), the uploads in progress and the copies rebalance is
// writing. A shard file of any other ID is an orphan.
func recordedFiles(store *raftfsm.Store) ([]recordedFile, map[blobstore.FileID]bool, error) {
	var out []recordedFile
	refs := map[blobstore.FileID]bool{}
	add := func(rf adminapi.ReportFile, raw []byte) {
		var m blobstore.Manifest
		if err := m.UnmarshalBinary(raw); err != nil {
			return
		}
		refs[m.FileID] = true
		if len(m.WrappedKey) == 0 {
			return // shredded: deleted, nothing to account for
		}
		out = append(out, recordedFile{ReportFile: rf, m: m})
	}
	err := scanManifests(store, func(sm storedManifest) error {
		refs[blobstore.FileID(sm.id)] = true
		add(adminapi.ReportFile{ID: sm.id, Name: sm.name, Send: sm.send}, sm.raw)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ups, err := transfer.StoredUploads(store)
	if err != nil {
		return nil, nil, fmt.Errorf("list the uploads in progress: %w", err)
	}
	for _, id := range ups {
		refs[blobstore.FileID(id)] = true
	}
	err = store.Scan([]byte(prefixRebalance), func(it raftfsm.Item) error {
		refs[blobstore.FileID(strings.TrimPrefix(string(it.Key), prefixRebalance))] = true
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list the rebalance copies: %w", err)
	}
	return out, refs, nil
}

// absentNodes returns the nodes the cluster records (not removed, other than this one) with
// disks of which none answers: a node not back yet after a restore.
func (n *instance) absentNodes() ([]string, error) {
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return nil, fmt.Errorf("read the node records: %w", err)
	}
	var out []string
	for _, r := range nodes {
		if r.ID == n.cfg.Node.ID || r.state() == nodeRemoved {
			continue
		}
		has, reached := false, false
		for _, d := range r.Disks {
			if d.State == diskRetired {
				continue
			}
			has = true
			if _, err := n.placement.Disk(blobstore.DiskID(d.ID)); err == nil {
				reached = true
			}
		}
		if has && !reached {
			out = append(out, r.ID)
		}
	}
	return out, nil
}

// readRestoreReport returns the stored report and its version; found is false when there is
// none.
func readRestoreReport(store *raftfsm.Store) (rep adminapi.RestoreReport, version uint64, found bool, err error) {
	it, err := store.Get([]byte(keyRestoreReport))
	if errors.Is(err, raftfsm.ErrNotFound) {
		return rep, 0, false, nil
	}
	if err != nil {
		return rep, 0, false, fmt.Errorf("read %s: %w", keyRestoreReport, err)
	}
	if err := json.Unmarshal(it.Value, &rep); err != nil {
		return rep, 0, false, fmt.Errorf("decode %s: %w", keyRestoreReport, err)
	}
	return rep, it.Version, true, nil
}

// settled says whether rep needs no more updates: no file and no node is waiting.
func settled(rep adminapi.RestoreReport) bool { return rep.Waiting == 0 && len(rep.WaitingNodes) == 0 }

// restoreStatus is Status.Restore: the stored report while it has files waiting or lost, or
// orphans to delete; nil otherwise.
func (n *instance) restoreStatus() *adminapi.RestoreReport {
	rep, _, found, err := readRestoreReport(n.store)
	if err != nil || !found || settled(rep) && rep.Lost == 0 && len(rep.Orphans) == 0 {
		return nil
	}
	return &rep
}

// keepRestoreReport runs on every node and works on the leader: while a restore report exists
// and is not settled, it recomputes it every reportEvery, and within reportPoll of a change of
// the node records or of the nodes that answer (a node rejoined, a disk re-attached).
func (n *instance) keepRestoreReport() {
	defer n.bg.Done()
	ctx := n.bgCtx
	t := time.NewTicker(reportPoll)
	defer t.Stop()
	var last time.Time
	var lastAbsent []string
	var lastRecords []nodeRecord
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.store.Status().State.IsLeader() {
			last = time.Time{}
			continue
		}
		rep, _, found, err := readRestoreReport(n.store)
		if err != nil || !found || settled(rep) {
			continue
		}
		absent, err := n.absentNodes()
		if err != nil {
			continue
		}
		records, _ := nodeRecords(n.store)
		changed := !slices.Equal(absent, lastAbsent) || !recordsEqual(records, lastRecords)
		if !changed && time.Since(last) < reportEvery {
			continue
		}
		if err := n.updateRestoreReport(ctx, absent); err != nil {
			n.logger.Warn("update the restore report; retried", logkey.Err, err)
			continue
		}
		last, lastAbsent, lastRecords = time.Now(), absent, records
	}
}

// recordsSame compares two reports by their JSON.
func recordsSame(a, b adminapi.RestoreReport) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// recordsEqual compares node records by their JSON.
func recordsEqual(a, b []nodeRecord) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// updateRestoreReport recomputes the stored report with absent as the nodes not back, and
// stores it unless it changed meanwhile.
func (n *instance) updateRestoreReport(ctx context.Context, absent []string) error {
	rep, ver, found, err := readRestoreReport(n.store)
	if err != nil || !found {
		return err
	}
	was := rep
	if err := fillRestoreCounts(ctx, n.store, n.blobs, absent, &rep); err != nil {
		return err
	}
	if checked := was.Checked; time.Since(checked) < reportStale {
		if was.Checked = rep.Checked; recordsSame(was, rep) {
			return nil // the counts stand: nothing to journal yet
		}
	}
	b, _ := json.Marshal(rep)
	_, err = n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: []byte(keyRestoreReport), Version: ver}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyRestoreReport), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "restore.report", Target: rep.Node,
			Details: mustJSON(map[string]any{"complete": rep.Complete, "healable": rep.Healable, "waiting": rep.Waiting,
				"lost": rep.Lost, "orphans": len(rep.Orphans), "waiting_nodes": rep.WaitingNodes})},
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return nil // changed meanwhile (orphans delete): the next round recomputes
	}
	if err != nil {
		return fmt.Errorf("store the restore report: %w", err)
	}
	n.logger.Info("restore report updated", "complete", rep.Complete, "healable", rep.Healable, "waiting", rep.Waiting,
		"lost", rep.Lost, "orphans", len(rep.Orphans), "waiting_nodes", strings.Join(rep.WaitingNodes, ","))
	return nil
}
