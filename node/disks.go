package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// Disks replaced and failed. A replaced disk is an empty directory at a configured disk path
// (a new disk mounted there): start gives it a new disk ID and a marker, and the node record
// says the old disk is retired and lists the new one; heal then refills it. A disk whose
// marker vanishes or whose probe write keeps failing while the node serves is failed: the
// node record says so, placement stops using it and heal rebuilds its shards elsewhere.

// Disk states of a diskRecord (diskRecord.State).
const (
	diskFailed  = "failed"
	diskRetired = "retired"
)

// probeFailures is how many probes in a row must fail before a disk is failed (a missing
// marker fails it at once).
const probeFailures = 3

// errDiskNotEmpty is returned by adoptDisk for a directory with no marker that holds files:
// it is not an empty replacement disk, and nothing is written over it.
var errDiskNotEmpty = errors.New("no disk marker, and the directory is not empty")

// diskChange is a change of this node's disks that the node record does not show yet.
type diskChange struct {
	path   string
	oldID  string // the disk replaced ("" for a new disk path), or the failed disk
	newID  string // the replacement; "" for a failure
	reason string // why the disk failed
	back   bool   // a disk recorded failed that serves again: oldID's state is cleared
}

// adoptDisk takes an empty directory without a marker at the i-th disk path p as a new disk:
// it writes a marker with a new disk ID and queues the node record's change. A missing
// directory gives an error wrapping fs.ErrNotExist; one holding files gives errDiskNotEmpty.
func (n *instance) adoptDisk(p string, i int) (diskMarker, error) {
	entries, err := os.ReadDir(p)
	if err != nil {
		return diskMarker{}, err
	}
	for _, e := range entries {
		if e.Name() != "lost+found" {
			return diskMarker{}, errDiskNotEmpty
		}
	}
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return diskMarker{}, fmt.Errorf("read the node records: %w", err)
	}
	used := map[string]bool{}
	old := ""
	for _, r := range nodes {
		for _, d := range r.Disks {
			used[d.ID] = true
			if r.ID == n.cfg.Node.ID && d.Path == p && d.State != diskRetired {
				old = d.ID
			}
		}
	}
	id := diskID(n.cfg.Node.ID, i)
	for used[id] {
		id = diskID(n.cfg.Node.ID, i) + "-" + randomHex(3)
	}
	m := diskMarker{ClusterID: n.cluster.ID, NodeID: n.cfg.Node.ID, DiskID: id}
	if err := writeDiskMarker(p, m); err != nil {
		return diskMarker{}, fmt.Errorf("mark the new disk %s: %w", p, err)
	}
	n.repair.mu.Lock()
	n.repair.pending = append(n.repair.pending, diskChange{path: p, oldID: old, newID: id})
	n.repair.mu.Unlock()
	n.logger.Warn("empty disk without a marker: taken as a replacement disk with a new ID; heal refills it",
		logDisk, p, "disk_id", id, "replaces", old)
	return m, nil
}

// diskProbe is the state of the probes of one disk.
type diskProbe struct {
	mu    sync.Mutex                  // serialises probes (the loop's and a job's)
	fails map[blobstore.DiskID]string // consecutive probe failures: the last cause, counted below
	count map[blobstore.DiskID]int
}

// probeDisks checks every usable local disk: its marker still names it, and a small file
// written, synced, read back and removed. A disk that fails is recorded failed (failDisk).
// It returns true when a disk failed.
func (r *repairer) probeDisks(ctx context.Context) bool {
	r.probe.mu.Lock()
	defer r.probe.mu.Unlock()
	if r.probe.count == nil {
		r.probe.count, r.probe.fails = map[blobstore.DiskID]int{}, map[blobstore.DiskID]string{}
	}
	failed := false
	for _, ld := range r.n.disks {
		if ld.disk == nil || r.diskFailed(ld.id) != "" {
			continue
		}
		m, err := readDiskMarker(ld.path)
		if err != nil || m.DiskID != string(ld.id) {
			reason := "its marker is gone: the disk was unmounted, wiped or replaced while the node served"
			if err == nil {
				reason = "its marker names disk " + m.DiskID + ": another disk was mounted there while the node served"
			}
			r.failDisk(ld, reason)
			failed = true
			continue
		}
		if err := probeWrite(ctx, ld.disk, r.n.cfg.Node.ID); err != nil {
			if ctx.Err() != nil {
				return failed
			}
			r.probe.count[ld.id]++
			r.n.logger.Warn("disk probe failed", logDisk, ld.path, "in_a_row", r.probe.count[ld.id], logkey.Err, err)
			if r.probe.count[ld.id] >= probeFailures {
				r.failDisk(ld, fmt.Sprintf("%d writes in a row failed: %v", probeFailures, err))
				failed = true
			}
			continue
		}
		delete(r.probe.count, ld.id)
	}
	return failed
}

// probeWrite writes, syncs, reads back and removes a small file on d.
func probeWrite(ctx context.Context, d blobstore.Disk, node string) error {
	name := ".probe/" + node
	f, err := d.Create(ctx, name, true)
	if err != nil {
		return err
	}
	want := []byte("valise disk probe " + time.Now().UTC().Format(time.RFC3339Nano))
	_, err = f.WriteAt(want, 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		got := make([]byte, len(want))
		if _, err = f.ReadAt(got, 0); err == nil && string(got) != string(want) {
			err = errors.New("read back other bytes than written")
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return d.Remove(ctx, name)
}

// failDisk records a local disk as failed: placement and heal avoid it from now, and the node
// record says so at the next publishDisks.
func (r *repairer) failDisk(ld localDisk, reason string) {
	r.mu.Lock()
	r.failed[ld.id] = reason
	r.pending = append(r.pending, diskChange{path: ld.path, oldID: string(ld.id), reason: reason})
	r.mu.Unlock()
	r.n.logger.Error("disk failed: its shards are healed onto the other disks; replace it (an empty directory at its path) and restart",
		logDisk, ld.path, "disk_id", ld.id, "reason", reason)
	r.refreshMap(r.ctx)
}

// diskFailed returns why local disk id failed, "" when it did not.
func (r *repairer) diskFailed(id blobstore.DiskID) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[id]
}

// failedDisks returns the local disks found failed.
func (r *repairer) failedDisks() []blobstore.DiskID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]blobstore.DiskID, 0, len(r.failed))
	for id := range r.failed {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// publishDisks writes the pending disk changes into this node's record and gives placement
// the new map. It returns a heal trigger when a replaced disk was recorded ("" otherwise).
func (r *repairer) publishDisks(ctx context.Context) string {
	r.mu.Lock()
	pending := slices.Clone(r.pending)
	r.mu.Unlock()
	if len(pending) == 0 {
		return ""
	}
	n := r.n
	err := n.updateNodeRecord(ctx, n.cfg.Node.ID, "node.disks", func(rec *nodeRecord) {
		for _, c := range pending {
			for i := range rec.Disks {
				if rec.Disks[i].ID == c.oldID {
					switch {
					case c.back:
						rec.Disks[i].State = ""
					case c.newID != "":
						rec.Disks[i].State = diskRetired
					default:
						rec.Disks[i].State = diskFailed
					}
				}
			}
			if c.newID != "" && !slices.ContainsFunc(rec.Disks, func(d diskRecord) bool { return d.ID == c.newID }) {
				rec.Disks = append(rec.Disks, diskRecord{ID: c.newID, Path: c.path})
			}
		}
	})
	if err != nil {
		n.logger.Warn("record the disk changes in the node record; retried", logkey.Err, err)
		return ""
	}
	r.mu.Lock()
	r.pending = r.pending[len(pending):]
	r.mu.Unlock()
	r.refreshMap(ctx)
	trigger := ""
	for _, c := range pending {
		if c.newID != "" {
			trigger = "disk replaced"
			n.logger.Info("replacement disk recorded", logDisk, c.path, "disk_id", c.newID, "retired", c.oldID)
		} else if trigger == "" && !c.back {
			trigger = "disk failed"
		}
	}
	return trigger
}

// refreshMap has placement reread the node records and the disks now, so that failed,
// retired and draining disks leave placement at once.
func (r *repairer) refreshMap(ctx context.Context) { r.n.placement.update(ctx) }

// updateNodeRecord changes node id's record with change through Raft, conditional on the
// version read, retrying a few times when it changed meanwhile; action is journalled.
func (n *instance) updateNodeRecord(ctx context.Context, id, action string, change func(*nodeRecord)) error {
	key := []byte(prefixNodes + id)
	var err error
	for range 5 {
		var it raftfsm.Item
		if it, err = n.store.Get(key); err != nil {
			return fmt.Errorf("read the record of node %s: %w", id, err)
		}
		var rec nodeRecord
		if err = json.Unmarshal(it.Value, &rec); err != nil {
			return fmt.Errorf("decode the record of node %s: %w", id, err)
		}
		change(&rec)
		var v []byte
		if v, err = json.Marshal(rec); err != nil {
			return err
		}
		details, _ := json.Marshal(map[string]any{"state": rec.state(), "disks": rec.Disks})
		_, err = n.store.Propose(ctx, raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: it.Version}},
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: v}},
			Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: action, Target: id, Details: details},
		})
		if !errors.Is(err, raftfsm.ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("update the record of node %s: %w", id, err)
	}
	return nil
}

// diskStateFor is what status shows of local disk ld.
func (n *instance) diskStateFor(ld localDisk) string {
	if n.repair != nil {
		if why := n.repair.diskFailed(ld.id); why != "" {
			return "failed: " + why
		}
	}
	return ld.state
}

// reviveDisks queues, for every usable local disk that this node's record says failed, the
// change that puts it back in service: it opened with its marker at this start, and the
// probes fail it again if it is still broken. Its old shards were rebuilt elsewhere.
func (r *repairer) reviveDisks() {
	n := r.n
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return
	}
	for _, rec := range nodes {
		if rec.ID != n.cfg.Node.ID {
			continue
		}
		for _, d := range rec.Disks {
			if d.State != diskFailed {
				continue
			}
			for _, ld := range n.disks {
				if string(ld.id) == d.ID && ld.disk != nil {
					r.mu.Lock()
					r.pending = append(r.pending, diskChange{path: ld.path, oldID: d.ID, back: true})
					r.mu.Unlock()
					n.logger.Warn("a disk recorded failed serves again: placement uses it again", logDisk, ld.path, "disk_id", d.ID)
				}
			}
		}
	}
}
