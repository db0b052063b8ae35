package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// backupOf opens a snapshot of s, streams it and returns its info and bytes.
func backupOf(t testing.TB, s *Store) (SnapshotInfo, []byte) {
	t.Helper()
	sn, err := s.OpenSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo said %d bytes, wrote %d", n, buf.Len())
	}
	sn.Close() // idempotent with the deferred one
	if _, err := sn.WriteTo(&buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteTo after Close: %v", err)
	}
	return sn.Info(), buf.Bytes()
}

func TestBackupInstallOpen(t *testing.T) {
	// No trailing logs: once snapshotted, the entry at the applied index is gone from the log
	// and OpenSnapshot takes its term from the Raft snapshot.
	srcAddr, srcTrans := raft.NewInmemTransport("")
	src := openTestStore(t, "n1", t.TempDir(), srcTrans, Deps{}, func(c *Config) { c.TrailingLogs = 0 })
	if err := src.BootstrapSelf(srcAddr); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, src)
	for i := range 40 {
		if _, err := src.Propose(ctx(t), putBatch(fmt.Sprintf("user/%02d", i), fmt.Sprintf("value %d", i))); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			if err := src.Snapshot(); err != nil { // part of the log compacted away
				t.Fatal(err)
			}
		}
	}
	if _, err := src.Propose(ctx(t), delBatch("user/07")); err != nil {
		t.Fatal(err)
	}
	if err := src.Snapshot(); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := src.logs.GetLog(src.AppliedIndex(), &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("the applied entry is still in the log: %v", err)
	}
	info, data := backupOf(t, src)
	applied, hash, err := src.StateHash()
	if err != nil || applied != info.Index {
		t.Fatalf("source at %d (%v), snapshot at %d", applied, err, info.Index)
	}
	head, _ := src.JournalHead()
	if info.Head != head || info.Head.Seq != 41 || info.Term != src.Status().Term {
		t.Fatalf("info %+v, head %d, term %d", info, head.Seq, src.Status().Term)
	}
	if _, err := src.Propose(ctx(t), putBatch("after/backup", "x")); err != nil {
		t.Fatal(err)
	}

	rep, err := CheckSnapshot(bytes.NewReader(data), nil)
	if err != nil || rep.Applied != info.Index || rep.Head != info.Head || rep.JournalEntries != 41 {
		t.Fatalf("CheckSnapshot = %+v, %v", rep, err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	addr, trans := raft.NewInmemTransport("")
	if err := InstallSnapshot(dir, info, "r1", string(addr), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	dst := openTestStore(t, "r1", dir, trans, Deps{})
	waitLeader(t, dst)
	a2, h2, err := dst.StateHash()
	if err != nil || a2 != info.Index || h2 != hash {
		t.Fatalf("restored at %d (%v), same hash %v", a2, err, h2 == hash)
	}
	if st := dst.Status(); st.Term <= info.Term || len(st.Members) != 1 || st.Members[0].ID != "r1" {
		t.Fatalf("restored status %+v", st)
	}
	if _, err := dst.Get([]byte("after/backup")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a write made after the backup: %v", err)
	}
	res, err := dst.Propose(ctx(t), putBatch("after/restore", "y"))
	if err != nil || res.Index <= info.Index || res.JournalSeq != 42 {
		t.Fatalf("propose after restore: %+v, %v (snapshot at %d)", res, err, info.Index)
	}
	if _, err := dst.VerifyJournal(ctx(t)); err != nil {
		t.Fatal(err)
	}
	_, want, _ := dst.StateHash()
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps every write, the restored ones and the new one.
	dst = openTestStore(t, "r1", dir, trans, Deps{})
	waitLeader(t, dst)
	if err := dst.WaitApplied(ctx(t), res.Index); err != nil {
		t.Fatal(err)
	}
	if it, err := dst.Get([]byte("after/restore")); err != nil || string(it.Value) != "y" || it.Version != res.Index {
		t.Fatalf("after restart: %+v, %v", it, err)
	}
	if _, got, _ := dst.StateHash(); got != want {
		t.Fatal("state changed across the restart")
	}
	if _, err := dst.VerifyJournal(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if res2, err := dst.Propose(ctx(t), putBatch("after/restart", "z")); err != nil || res2.Index <= res.Index {
		t.Fatalf("propose after restart: %+v, %v", res2, err)
	}
}

func TestInstallSnapshotRefuses(t *testing.T) {
	src := newOneNode(t, t.TempDir()).store
	for i := range 5 {
		if _, err := src.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	info, data := backupOf(t, src)

	t.Run("non-empty dir", func(t *testing.T) {
		dir := t.TempDir()
		keep := filepath.Join(dir, "keep")
		if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := InstallSnapshot(dir, info, "r1", "a", bytes.NewReader(data)); err == nil {
			t.Fatal("installed into a non-empty directory")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("dir holds %d entries, want the one it had", len(entries))
		}
	})
	bad := []struct {
		name string
		info SnapshotInfo
		data []byte
	}{
		{"truncated", info, data[:len(data)-5]},
		{"flipped", info, flip(data, len(data)/2)},
		{"wrong index", SnapshotInfo{Index: info.Index + 1, Term: info.Term}, data},
		{"wrong head", SnapshotInfo{Index: info.Index, Term: info.Term, Head: JournalHead{Seq: 1}}, data},
		{"no term", SnapshotInfo{Index: info.Index}, data},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			missing := filepath.Join(t.TempDir(), "new")
			if err := InstallSnapshot(missing, tc.info, "r1", "a", bytes.NewReader(tc.data)); err == nil {
				t.Fatal("installed")
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("left %s behind: %v", missing, err)
			}
			empty := t.TempDir()
			if err := InstallSnapshot(empty, tc.info, "r1", "a", bytes.NewReader(tc.data)); err == nil {
				t.Fatal("installed")
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Fatalf("left %d entries behind", len(entries))
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

// snapRecord is one record of a snapshot stream, for building streams in tests.
type snapRecord struct{ key, val []byte }

func parseStream(t testing.TB, data []byte) []snapRecord {
	t.Helper()
	var recs []snapRecord
	if err := readSnapshot(bytes.NewReader(data), func(k, v []byte) error {
		recs = append(recs, snapRecord{k, v})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

// encodeStream writes recs as a valid stream (framing and checksums right).
func encodeStream(recs []snapRecord) []byte {
	var b bytes.Buffer
	b.WriteString(snapMagic)
	b.WriteByte(snapVersion)
	for _, r := range recs {
		var hdr [9]byte
		hdr[0] = 'r'
		binary.BigEndian.PutUint32(hdr[1:], uint32(len(r.key)))
		binary.BigEndian.PutUint32(hdr[5:], uint32(len(r.val)))
		crc := crc32.Update(crc32.Update(crc32.Update(0, castagnoli(), hdr[:]), castagnoli(), r.key), castagnoli(), r.val)
		b.Write(hdr[:])
		b.Write(r.key)
		b.Write(r.val)
		b.Write(binary.BigEndian.AppendUint32(nil, crc))
	}
	var end [9]byte
	end[0] = 'e'
	binary.BigEndian.PutUint64(end[1:], uint64(len(recs)))
	b.Write(end[:])
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(end[:], castagnoli())))
	return b.Bytes()
}

// editRecords returns data with fn applied to its records, re-framed with valid checksums.
func editRecords(t testing.TB, data []byte, fn func([]snapRecord) []snapRecord) []byte {
	t.Helper()
	return encodeStream(fn(parseStream(t, data)))
}

// recordIndex returns the index of key in recs.
func recordIndex(t testing.TB, recs []snapRecord, key []byte) int {
	t.Helper()
	for i, r := range recs {
		if bytes.Equal(r.key, key) {
			return i
		}
	}
	t.Fatalf("no record %x", key)
	return -1
}

// testStream is a real snapshot stream of an FSM with 30 journalled writes.
func testStream(t testing.TB) []byte {
	f := openTestFSM(t, t.TempDir())
	fillFSM(t, f, 30)
	return snapshotBytes(t, f)
}

func TestCheckSnapshotFaults(t *testing.T) {
	data := testStream(t)
	var users int
	rep, err := CheckSnapshot(bytes.NewReader(data), func(it Item) error {
		users++
		if it.Version == 0 || len(it.Key) == 0 || it.Key[0] == 0 {
			return fmt.Errorf("bad item %+v", it)
		}
		return nil
	})
	if err != nil || users != 30 || rep.Applied != 30 || rep.JournalEntries != 30 || rep.Head.Seq != 30 || rep.Records != 30+30+2 {
		t.Fatalf("CheckSnapshot = %+v, %d users, %v", rep, users, err)
	}
	stop := errors.New("stop")
	if _, err := CheckSnapshot(bytes.NewReader(data), func(Item) error { return stop }); err != stop {
		t.Fatalf("visit error came back as %v", err)
	}

	entry := func(seq uint64) []byte { return journalKey(seq) }
	edit := func(fn func([]snapRecord) []snapRecord) []byte { return editRecords(t, data, fn) }
	cases := []struct {
		name    string
		data    []byte
		journal bool // the fault is in the journal chain
	}{
		{"truncated header", data[:5], false},
		{"truncated in a record", data[:len(data)/2], false},
		{"no end frame", data[:len(data)-13], false},
		{"truncated end frame", data[:len(data)-3], false},
		{"trailing byte", append(bytes.Clone(data), 0), false},
		{"flipped magic", flip(data, 2), false},
		{"flipped version", flip(data, 8), false},
		{"flipped first record", flip(data, 12), false},
		{"flipped middle", flip(data, len(data)/2), false},
		{"flipped end count", flip(data, len(data)-6), false},
		{"broken link", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, entry(12))
			e, _ := decodeEntry(recs[i].val)
			e.PrevHash[0] ^= 1
			e.Hash = e.computeHash()
			recs[i].val = encodeEntry(e)
			return recs
		}), true},
		{"entry changed", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, entry(5))
			e, _ := decodeEntry(recs[i].val)
			e.Actor = "mallory"
			recs[i].val = encodeEntry(e)
			return recs
		}), true},
		{"entry missing", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, entry(9))
			return append(recs[:i], recs[i+1:]...)
		}), true},
		{"last entry missing", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, entry(30))
			return append(recs[:i], recs[i+1:]...)
		}), true},
		{"head wrong", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, []byte(keyHead))
			recs[i].val = bytes.Clone(recs[i].val)
			recs[i].val[20] ^= 1
			return recs
		}), true},
		{"no applied", edit(func(recs []snapRecord) []snapRecord {
			return recs[1:]
		}), false},
		{"unknown internal key", edit(func(recs []snapRecord) []snapRecord {
			i := recordIndex(t, recs, []byte(keyHead))
			return append(recs[:i+1], append([]snapRecord{{[]byte("\x00i"), []byte("x")}}, recs[i+1:]...)...)
		}), false},
		{"user value without version", edit(func(recs []snapRecord) []snapRecord {
			recs[len(recs)-1].val = []byte("short")
			return recs
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckSnapshot(bytes.NewReader(tc.data), nil)
			if !errors.Is(err, ErrBadSnapshotStream) {
				t.Fatalf("CheckSnapshot = %v, want a bad stream", err)
			}
			if errors.Is(err, ErrJournalBroken) != tc.journal {
				t.Fatalf("CheckSnapshot = %v, journal fault %v", err, tc.journal)
			}
			t.Log(err)
		})
	}
}

// FuzzCheckSnapshot: no input panics CheckSnapshot or makes it accept a stream whose records
// would not restore.
func FuzzCheckSnapshot(f *testing.F) {
	f.Add(testStream(f))
	f.Add(encodeStream(nil))
	f.Add([]byte(snapMagic + "\x01e"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := CheckSnapshot(bytes.NewReader(data), func(it Item) error {
			if len(it.Key) == 0 || it.Key[0] == 0 {
				t.Fatalf("visited internal key %x", it.Key)
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrBadSnapshotStream) {
				t.Fatalf("error not wrapping ErrBadSnapshotStream: %v", err)
			}
			return
		}
		if rep.Head.Seq != rep.JournalEntries {
			t.Fatalf("accepted head %d with %d entries", rep.Head.Seq, rep.JournalEntries)
		}
	})
}

// TestRestoredClusterGrows: a node started from an installed snapshot takes a new member,
// which catches up from that snapshot (the log starts after it) and then from the log.
func TestRestoredClusterGrows(t *testing.T) {
	src := newOneNode(t, t.TempDir()).store
	for i := range 10 {
		if _, err := src.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	info, data := backupOf(t, src)
	a1, t1 := raft.NewInmemTransport("")
	a2, t2 := raft.NewInmemTransport("")
	t1.Connect(a2, t2)
	t2.Connect(a1, t1)
	dir1 := t.TempDir()
	if err := InstallSnapshot(dir1, info, "r1", string(a1), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	s1 := openTestStore(t, "r1", dir1, t1, Deps{})
	waitLeader(t, s1)
	s2 := openTestStore(t, "r2", t.TempDir(), t2, Deps{})
	if err := s1.AddNonvoter(ctx(t), "r2", a2); err != nil { // as a joining node does
		t.Fatal(err)
	}
	res, err := s1.Propose(ctx(t), putBatch("after", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.WaitApplied(ctx(t), res.Index); err != nil {
		t.Fatal(err)
	}
	a, h1, _ := s1.StateHash()
	b, h2, _ := s2.StateHash()
	if a != b || h1 != h2 {
		t.Fatalf("new member at %d, leader at %d, same hash %v", b, a, h1 == h2)
	}
	if _, err := s2.VerifyJournal(ctx(t)); err != nil {
		t.Fatal(err)
	}
}
