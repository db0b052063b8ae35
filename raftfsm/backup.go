package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// ErrBadSnapshotStream is wrapped by CheckSnapshot and InstallSnapshot for a stream that is
// not a valid snapshot (framing, checksums, journal chain).
var ErrBadSnapshotStream = errBadSnapshot

// SnapshotInfo says which point of the log a snapshot holds.
type SnapshotInfo struct {
	Index uint64      // the FSM's applied index: the last entry the snapshot holds
	Term  uint64      // the Raft term of that entry
	Head  JournalHead // the journal head in the snapshot
}

// Snapshot is a point-in-time read of the whole state (one Badger read transaction), for a
// backup. Close it when done; WriteTo and Close must not run concurrently.
type Snapshot struct {
	gen   *dbGen
	txn   *badger.Txn
	info  SnapshotInfo
	size  int64
	close sync.Once
	done  bool // set by Close
}

// OpenSnapshot opens a snapshot of the state as it is now, the same consistent view a Raft
// snapshot takes (the FSM's Badger synced first).
func (s *Store) OpenSnapshot() (*Snapshot, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	f := s.fsm
	f.mu.RLock()
	if f.cur == nil {
		f.mu.RUnlock()
		return nil, ErrClosed
	}
	if err := f.cur.db.Sync(); err != nil {
		f.mu.RUnlock()
		return nil, fmt.Errorf("open snapshot: sync fsm: %w", err)
	}
	f.cur.acquire()
	sn := &Snapshot{gen: f.cur, txn: f.cur.db.NewTransaction(false)}
	sn.size = estimateSize(f.cur.db)
	f.mu.RUnlock()

	applied, err := readApplied(sn.txn)
	if err == nil {
		sn.info.Head, err = readHead(sn.txn)
	}
	if err != nil {
		sn.Close()
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	sn.info.Index = applied
	if sn.info.Term, err = s.termAt(applied); err != nil {
		sn.Close()
		return nil, fmt.Errorf("open snapshot: %w", err)
	}
	return sn, nil
}

// termAt returns the Raft term of the log entry at index. When the log no longer holds it
// (compacted into a Raft snapshot meanwhile), it returns the term of the latest Raft snapshot
// that covers index, and failing that raft's current term: both are at least the entry's
// term, never below it, which is what a restore needs (the terms of the entries it appends
// after index only have to be at least the snapshot's: DESIGN.md, Backup and restore).
func (s *Store) termAt(index uint64) (uint64, error) {
	if index == 0 {
		return 0, nil
	}
	var l raft.Log
	err := s.logs.GetLog(index, &l)
	if err == nil {
		return l.Term, nil
	}
	if !errors.Is(err, raft.ErrLogNotFound) {
		return 0, fmt.Errorf("term of entry %d: %w", index, err)
	}
	metas, err := s.snaps.List()
	if err != nil {
		return 0, fmt.Errorf("term of entry %d: list snapshots: %w", index, err)
	}
	if len(metas) > 0 && metas[0].Index >= index {
		return metas[0].Term, nil
	}
	return s.raft.CurrentTerm(), nil
}

// estimateSize is the uncompressed size of db's tables (from their metadata) and of its value
// log as Badger last measured it: cheap, and close to the stream's size once the memtables
// are flushed.
func estimateSize(db *badger.DB) int64 {
	var n int64
	for _, t := range db.Tables() {
		n += int64(t.UncompressedSize)
	}
	_, vlog := db.Size()
	return n + max(vlog, 0)
}

// Info returns the log position and journal head the snapshot holds.
func (sn *Snapshot) Info() SnapshotInfo { return sn.info }

// EstimatedSize is an estimate of the stream's size in bytes, for a progress bar; 0 when
// unknown. It counts the FSM's Badger tables and value log (estimateSize): what is still in
// memtables is missing, overwritten values not yet collected are counted.
func (sn *Snapshot) EstimatedSize() int64 { return sn.size }

// WriteTo streams the snapshot to w in the format Raft snapshots use; memory stays flat.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if sn.done {
		return 0, fmt.Errorf("write snapshot: %w", ErrClosed)
	}
	cw := &trackWriter{w: w}
	if err := writeSnapshot(sn.txn, cw); err != nil {
		return cw.n, fmt.Errorf("write snapshot: %w", err)
	}
	return cw.n, nil
}

// Close releases the snapshot's transaction; idempotent.
func (sn *Snapshot) Close() {
	sn.close.Do(func() {
		sn.done = true
		sn.txn.Discard()
		sn.gen.release()
	})
}

// trackWriter counts the bytes written through it and keeps the first error: WriteTo needs
// the count, InstallSnapshot tells a failed write from a bad stream.
type trackWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *trackWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// SnapshotReport is what CheckSnapshot found in a stream.
type SnapshotReport struct {
	Applied        uint64      // the applied index record
	Head           JournalHead // the journal head record
	Records        uint64      // every record, internal ones included
	JournalEntries uint64
}

// CheckSnapshot reads a snapshot stream to its end, checks its framing and checksums, walks
// the journal chain it holds (each entry's hash, its link to the one before, the last one
// being the head record), and calls visit for every user record (as Get returns it). A fault
// gives an error wrapping ErrBadSnapshotStream that names it; a visit error is returned as is.
//
// A journal fault wraps ErrJournalBroken too. The internal records are, in key order, the
// applied index (required), the head (required once the journal has an entry) and the
// journal entries; any other internal record is a fault. visit may be nil; it owns the slices
// it is given.
func CheckSnapshot(r io.Reader, visit func(Item) error) (SnapshotReport, error) {
	c := snapChecker{visit: visit}
	err := readSnapshot(r, c.record)
	if err == nil {
		err = c.endJournal()
	}
	if err != nil && c.visitErr != nil && errors.Is(err, c.visitErr) {
		return c.rep, c.visitErr
	}
	return c.rep, err
}

// snapChecker is CheckSnapshot's state while it reads the records in key order.
type snapChecker struct {
	visit       func(Item) error
	visitErr    error
	rep         SnapshotReport
	sawApplied  bool
	sawHead     bool
	journalDone bool        // a user record came: no internal record may follow
	last        JournalHead // the last journal entry read
}

func snapFault(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadSnapshot, fmt.Sprintf(format, a...))
}

func journalFault(format string, a ...any) error {
	return fmt.Errorf("%w: %w: %s", errBadSnapshot, ErrJournalBroken, fmt.Sprintf(format, a...))
}

func (c *snapChecker) record(k, v []byte) error {
	c.rep.Records++
	if k[0] != 0x00 {
		if !c.journalDone {
			if err := c.endJournal(); err != nil {
				return err
			}
		}
		if len(v) < 8 {
			return snapFault("record %d (%s): value of %d bytes, no version", c.rep.Records-1, quoteKey(k), len(v))
		}
		if c.visit == nil {
			return nil
		}
		if err := c.visit(Item{Key: k, Value: v[8:], Version: binary.BigEndian.Uint64(v)}); err != nil {
			c.visitErr = err
			return err
		}
		return nil
	}
	switch {
	case string(k) == keyApplied:
		if len(v) != 8 {
			return snapFault("applied index record: %d bytes", len(v))
		}
		c.sawApplied = true
		c.rep.Applied = binary.BigEndian.Uint64(v)
	case string(k) == keyHead:
		if len(v) != 40 {
			return snapFault("journal head record: %d bytes", len(v))
		}
		c.sawHead = true
		c.rep.Head.Seq = binary.BigEndian.Uint64(v)
		copy(c.rep.Head.Hash[:], v[8:])
	case len(k) == 10 && k[1] == journalTag:
		return c.entry(binary.BigEndian.Uint64(k[2:]), v)
	default:
		return snapFault("record %d: unknown internal key %x", c.rep.Records-1, k)
	}
	return nil
}

// entry checks one journal entry: stored under its own sequence number, the one after the
// last, linked to it and matching its hash.
func (c *snapChecker) entry(keySeq uint64, v []byte) error {
	want := c.last.Seq + 1
	e, err := decodeEntry(v)
	switch {
	case err != nil:
		return journalFault("entry %d: %v", want, err)
	case keySeq != want || e.Seq != want:
		return journalFault("entry %d missing (found %d next)", want, keySeq)
	case e.PrevHash != c.last.Hash:
		return journalFault("entry %d does not link to entry %d", e.Seq, e.Seq-1)
	case e.computeHash() != e.Hash:
		return journalFault("entry %d (%s by %s at raft index %d) does not match its hash", e.Seq, e.Action, e.Actor, e.Index)
	}
	c.last = JournalHead{Seq: e.Seq, Hash: e.Hash}
	c.rep.JournalEntries++
	return nil
}

// endJournal checks the internal records once they are all read.
func (c *snapChecker) endJournal() error {
	c.journalDone = true
	switch {
	case !c.sawApplied:
		return snapFault("no applied index record")
	case c.last.Seq > 0 && !c.sawHead:
		return journalFault("no journal head record, %d entries", c.last.Seq)
	case c.rep.Head.Seq != c.last.Seq:
		return journalFault("stored head %d does not match the last entry %d", c.rep.Head.Seq, c.last.Seq)
	case c.rep.Head.Hash != c.last.Hash:
		return journalFault("stored head %d does not match the hash of entry %d", c.rep.Head.Seq, c.last.Seq)
	}
	return nil
}

// InstallSnapshot prepares dir, an empty store directory (what Open takes as Config.Dir), to
// start from the snapshot stream r taken at info: r becomes a Raft snapshot at info.Index and
// info.Term whose configuration is the voter nodeID at addr alone, and the stable store's
// current term is set to info.Term, so that Open restores the FSM from it and the first new
// entry gets index info.Index+1 (the FSM skips entries at or below its applied index: a log
// restarting at 1 would drop every later write). It reads all of r and checks it as
// CheckSnapshot does; on any failure it removes what it wrote. dir must be missing or empty.
//
// The stream's applied index must be info.Index, and its journal head info.Head unless
// info.Head is zero.
func InstallSnapshot(dir string, info SnapshotInfo, nodeID, addr string, r io.Reader) (err error) {
	switch {
	case info.Index == 0 || info.Term == 0:
		return fmt.Errorf("install snapshot: index %d term %d: both must be positive", info.Index, info.Term)
	case nodeID == "" || addr == "":
		return errors.New("install snapshot: node ID and address are required")
	}
	created, err := prepareEmptyDir(dir)
	if err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			removeInstalled(dir, created)
		}
	}()
	logs, err := OpenLogStore(filepath.Join(dir, "raft"), slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	defer func() {
		if cerr := logs.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("install snapshot: %w", cerr)
		}
	}()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snapshots"), 2, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("install snapshot: open snapshots: %w", err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(addr),
	}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, info.Index, info.Term, conf, info.Index, peerEncoder{})
	if err != nil {
		return fmt.Errorf("install snapshot: create raft snapshot: %w", err)
	}
	// The stream goes to the sink as it is checked: the sink is closed (made visible) only
	// once the whole stream proved valid.
	sw := &trackWriter{w: sink}
	rep, err := CheckSnapshot(io.TeeReader(r, sw), nil)
	if sw.err != nil { // the disk, not the stream
		err = fmt.Errorf("write raft snapshot: %w", sw.err)
	}
	if err == nil && rep.Applied != info.Index {
		err = snapFault("applied index %d, the backup says %d", rep.Applied, info.Index)
	}
	if err == nil && info.Head != (JournalHead{}) && rep.Head != info.Head {
		err = journalFault("journal head %d, the backup says %d", rep.Head.Seq, info.Head.Seq)
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("install snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("install snapshot: write raft snapshot: %w", err)
	}
	// Raft starts its term from the stable store: left at 0, this node would elect itself in
	// term 1 and append entries of a term below the snapshot's.
	if err := logs.SetUint64([]byte("CurrentTerm"), info.Term); err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	return nil
}

// prepareEmptyDir makes sure dir exists and is empty; created says whether it made it.
func prepareEmptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("%s is not empty: give a new or empty directory", dir)
	}
	return false, nil
}

// removeInstalled removes what InstallSnapshot wrote into dir (dir itself when it made it).
func removeInstalled(dir string, created bool) {
	if created {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// peerEncoder is the one Transport method FileSnapshotStore.Create calls (for the peers list
// of old snapshot versions): the address as bytes, as raft's own transports encode it.
type peerEncoder struct{ raft.Transport }

func (peerEncoder) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}
