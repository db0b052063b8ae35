package raftfsm

// STUB (issue 19): the signatures below are the contract; the bodies are written on branch
// h-core. Consumers code against them.

import (
	"errors"
	"io"
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
// backup. Close it when done.
type Snapshot struct{}

// OpenSnapshot opens a snapshot of the state as it is now, the same consistent view a Raft
// snapshot takes (the FSM's Badger synced first).
func (s *Store) OpenSnapshot() (*Snapshot, error) { return nil, errors.New("not yet") }

// Info returns the log position and journal head the snapshot holds.
func (sn *Snapshot) Info() SnapshotInfo { return SnapshotInfo{} }

// EstimatedSize is an estimate of the stream's size in bytes, for a progress bar; 0 when
// unknown.
func (sn *Snapshot) EstimatedSize() int64 { return 0 }

// WriteTo streams the snapshot to w in the format Raft snapshots use; memory stays flat.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) { return 0, errors.New("not yet") }

// Close releases the snapshot's transaction; idempotent.
func (sn *Snapshot) Close() {}

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
func CheckSnapshot(r io.Reader, visit func(Item) error) (SnapshotReport, error) {
	return SnapshotReport{}, errors.New("not yet")
}

// InstallSnapshot prepares dir, an empty store directory (what Open takes as Config.Dir), to
// start from the snapshot stream r taken at info: r becomes a Raft snapshot at info.Index and
// info.Term whose configuration is the voter nodeID at addr alone, and the stable store's
// current term is set to info.Term, so that Open restores the FSM from it and the first new
// entry gets index info.Index+1 (the FSM skips entries at or below its applied index: a log
// restarting at 1 would drop every later write). It reads all of r and checks it as
// CheckSnapshot does; on any failure it removes what it wrote. dir must be missing or empty.
func InstallSnapshot(dir string, info SnapshotInfo, nodeID, addr string, r io.Reader) error {
	return errors.New("not yet")
}
