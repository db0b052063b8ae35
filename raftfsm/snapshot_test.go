package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// bufferSink is a raft.SnapshotSink into memory.
type bufferSink struct {
	bytes.Buffer
	cancelled, closed bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }
func (s *bufferSink) Close() error  { s.closed = true; return nil }

func snapshotBytes(t testing.TB, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink bufferSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

func fillFSM(t testing.TB, f *fsm, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		applyAt(t, f, uint64(i), putBatch(fmt.Sprintf("user/%04d", i), fmt.Sprintf("value %d %s", i, bytes.Repeat([]byte("x"), i%200))))
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	src := openTestFSM(t, t.TempDir())
	fillFSM(t, src, 300)
	applyAt(t, src, 301, delBatch("user/0007"))
	data := snapshotBytes(t, src)

	dir := t.TempDir()
	dst := openTestFSM(t, dir)
	fillFSM(t, dst, 3) // some older state, replaced whole
	applyAt(t, dst, 4, putBatch("only/here", "x"))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	a1, h1, _ := src.stateHash()
	a2, h2, _ := dst.stateHash()
	if a1 != 301 || a1 != a2 || h1 != h2 {
		t.Fatalf("after restore: applied %d/%d, same hash %v", a1, a2, h1 == h2)
	}
	if _, err := dst.get([]byte("only/here")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("restore kept a key of the old state: %v", err)
	}
	if dst.applied.Load() != 301 || dst.head.Seq != 301 {
		t.Fatalf("restored applied %d head %d", dst.applied.Load(), dst.head.Seq)
	}
	// The restored FSM goes on applying and chaining, and survives a reopen.
	if r := applyAt(t, dst, 302, putBatch("after", "x")).(Result); r.JournalSeq != 302 {
		t.Fatalf("journal seq after restore %d", r.JournalSeq)
	}
	if err := dst.close(); err != nil {
		t.Fatal(err)
	}
	if gens := genDirs(t, filepath.Join(dir, "fsm")); fmt.Sprint(gens) != "[2]" {
		t.Errorf("generation directories %v after a restore, want [2]", gens)
	}
	dst = openTestFSM(t, dir)
	if _, err := dst.verify(t.Context()); err != nil {
		t.Fatal(err)
	}
	if it := mustGet(t, dst, "user/0300"); it.Version != 300 {
		t.Fatalf("user/0300 = %+v", it)
	}
}

func TestRestoreGarbageKeepsState(t *testing.T) {
	src := openTestFSM(t, t.TempDir())
	fillFSM(t, src, 20)
	good := snapshotBytes(t, src)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	noApplied := func() []byte { // a well-formed stream whose applied index is 3 bytes
		var b bytes.Buffer
		b.WriteString(snapMagic)
		b.WriteByte(snapVersion)
		rec := []byte{'r', 0, 0, 0, 2, 0, 0, 0, 3, 0, 'a', 1, 2, 3}
		b.Write(rec)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32c(rec)))
		end := []byte{'e', 0, 0, 0, 0, 0, 0, 0, 1}
		b.Write(end)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32c(end)))
		return b.Bytes()
	}()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a snapshot", []byte("hello, world")},
		{"truncated", good[:len(good)-5]},
		{"no end frame", good[:len(good)-13]},
		{"bit flipped", flipped},
		{"trailing data", append(bytes.Clone(good), 0)},
		{"bad applied index", noApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := openTestFSM(t, dir)
			fillFSM(t, f, 5)
			a1, h1, _ := f.stateHash()
			err := f.Restore(io.NopCloser(bytes.NewReader(tc.data)))
			if err == nil {
				t.Fatal("restore of garbage succeeded")
			}
			a2, h2, _ := f.stateHash()
			if a1 != a2 || h1 != h2 {
				t.Fatalf("failed restore (%v) changed the state", err)
			}
			if gens := genDirs(t, filepath.Join(dir, "fsm")); fmt.Sprint(gens) != "[1]" {
				t.Fatalf("generation directories %v after a failed restore, want [1]", gens)
			}
			applyAt(t, f, 6, putBatch("still", "works"))
		})
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func genDirs(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestRestoreCrash covers crashes during Restore: before CURRENT names the new generation
// the old state stays; after, the new one; the other directory goes.
func TestRestoreCrash(t *testing.T) {
	src := openTestFSM(t, t.TempDir())
	fillFSM(t, src, 7)
	data := snapshotBytes(t, src)
	_, restored, _ := src.stateHash()
	for _, tc := range []struct {
		name       string
		switchOver bool
	}{
		{"before the switch", false},
		{"after the switch", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := openTestFSM(t, dir)
			fillFSM(t, f, 3)
			_, old, _ := f.stateHash()
			if err := f.close(); err != nil {
				t.Fatal(err)
			}
			// What Restore does up to the crash.
			root := filepath.Join(dir, "fsm")
			if _, err := buildRestoreDir(filepath.Join(root, "2"), bytes.NewReader(data), testLogger(t)); err != nil {
				t.Fatal(err)
			}
			if tc.switchOver {
				if err := writeCurrent(root, 2); err != nil {
					t.Fatal(err)
				}
			}
			f = openTestFSM(t, dir)
			_, got, _ := f.stateHash()
			want, wantGen := old, "[1]"
			if tc.switchOver {
				want, wantGen = restored, "[2]"
			}
			if got != want {
				t.Fatal("wrong state after the crash")
			}
			if gens := genDirs(t, root); fmt.Sprint(gens) != wantGen {
				t.Fatalf("generation directories %v, want %s", gens, wantGen)
			}
		})
	}
}

// TestRestoreDuringSnapshot: a Restore while a snapshot is still being persisted must not
// wait for it (raft's snapshot goroutine may be waiting on the main loop, which waits on the
// Restore) nor close the database under it.
func TestRestoreDuringSnapshot(t *testing.T) {
	src := openTestFSM(t, t.TempDir())
	fillFSM(t, src, 50)
	data := snapshotBytes(t, src)

	f := openTestFSM(t, t.TempDir())
	fillFSM(t, f, 10)
	_, before, _ := f.stateHash()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	var sink bufferSink // the old snapshot still streams the old state
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	g := openTestFSM(t, t.TempDir())
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := g.stateHash(); h != before {
		t.Fatal("the snapshot taken before the restore did not stream the old state")
	}
}

func FuzzRestore(f *testing.F) {
	src := openTestFSM(f, f.TempDir())
	fillFSM(f, src, 3)
	good := snapshotBytes(f, src)
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte(snapMagic + "\x01e\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte(snapMagic + "\x01r\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte{})
	dst := openTestFSM(f, f.TempDir())
	f.Fuzz(func(t *testing.T, data []byte) {
		a1, h1, _ := dst.stateHash()
		err := dst.Restore(io.NopCloser(bytes.NewReader(data)))
		if err == nil {
			return
		}
		if !errors.Is(err, errBadSnapshot) {
			t.Fatalf("unclear error %v", err)
		}
		if a2, h2, _ := dst.stateHash(); a1 != a2 || h1 != h2 {
			t.Fatal("failed restore changed the state")
		}
	})
}

var _ raft.SnapshotSink = (*bufferSink)(nil)
