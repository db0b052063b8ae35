package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"syscall"
	"testing"

	"valise/blobstore"
)

// DiskContract checks that the Disks newDisk returns keep the contract blobstore.Disk and
// blobstore.File document: read what you wrote, a missing file is fs.ErrNotExist, Remove is
// idempotent, Rename replaces atomically (no reader sees a half-written file), List is
// recursive and relative, and everything is safe for concurrent use. It also wraps each disk
// in a FaultDisk and checks that an injected error comes back unchanged and a failed
// operation changes nothing. Every Disk implementation runs it (issue 17 item 5); newDisk
// returns an empty disk, cleaned up by the test.
func DiskContract(t *testing.T, newDisk func(t *testing.T) blobstore.Disk) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, d blobstore.Disk)
	}{
		{"read what was written", contractReadWrite},
		{"missing file is ErrNotExist", contractMissing},
		{"create keeps or truncates", contractCreateTruncate},
		{"truncate shrinks and grows with zeros", contractTruncate},
		{"remove is idempotent", contractRemove},
		{"rename replaces", contractRename},
		{"rename is atomic for readers", contractAtomicRename},
		{"list is recursive and relative", contractList},
		{"usage", contractUsage},
		{"concurrent files", contractConcurrentFiles},
		{"concurrent writes at different offsets", contractConcurrentOffsets},
		{"injected faults", contractFaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, t.Context(), newDisk(t))
		})
	}
}

// put writes data to name, syncs and closes it.
func put(t *testing.T, ctx context.Context, d blobstore.Disk, name string, data []byte) {
	t.Helper()
	f, err := d.Create(ctx, name, true)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if n, err := f.WriteAt(data, 0); err != nil || n != len(data) {
		t.Fatalf("write %s: %d, %v", name, n, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("sync %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// get reads the whole of name.
func get(t *testing.T, ctx context.Context, d blobstore.Disk, name string) []byte {
	t.Helper()
	f, err := d.Open(ctx, name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatalf("size %s: %v", name, err)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); n != len(buf) || err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read %s: %d of %d, %v", name, n, size, err)
	}
	return buf
}

func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func contractReadWrite(t *testing.T, ctx context.Context, d blobstore.Disk) {
	if d.ID() == "" {
		t.Fatal("ID is empty")
	}
	data := pattern(1, 3<<20+17) // more than one MemDisk chunk, not a multiple of anything
	put(t, ctx, d, "shards/ab/f.0", data)
	if got := get(t, ctx, d, "shards/ab/f.0"); !bytes.Equal(got, data) {
		t.Fatal("read back differs from what was written")
	}
	f, err := d.Open(ctx, "shards/ab/f.0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, int64(len(data))-40)
	if n != 40 || !errors.Is(err, io.EOF) {
		t.Errorf("read across the end = %d, %v; want 40, io.EOF", n, err)
	}
	if !bytes.Equal(buf[:40], data[len(data)-40:]) {
		t.Error("read across the end returned the wrong bytes")
	}
	if n, err := f.ReadAt(buf, int64(len(data))+5); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read past the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func contractMissing(t *testing.T, ctx context.Context, d blobstore.Disk) {
	for _, name := range []string{"nothing", "shards/zz/nothing.0"} {
		if _, err := d.Open(ctx, name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("open missing %s: %v, want fs.ErrNotExist", name, err)
		}
	}
	if err := d.Rename(ctx, "nothing", "other"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rename missing: %v, want fs.ErrNotExist", err)
	}
	if names, err := d.List(ctx, "no/such/dir"); err != nil || len(names) != 0 {
		t.Errorf("list missing dir = %q, %v; want nothing, no error", names, err)
	}
}

func contractCreateTruncate(t *testing.T, ctx context.Context, d blobstore.Disk) {
	put(t, ctx, d, "a/f", []byte("0123456789"))
	f, err := d.Create(ctx, "a/f", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("xy"), 2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := get(t, ctx, d, "a/f"); string(got) != "01xy456789" {
		t.Errorf("create without truncate then write = %q, want 01xy456789", got)
	}
	f, err = d.Create(ctx, "a/f", true)
	if err != nil {
		t.Fatal(err)
	}
	if size, err := f.Size(); size != 0 || err != nil {
		t.Errorf("size after create with truncate = %d, %v; want 0", size, err)
	}
	f.Close()
}

func contractTruncate(t *testing.T, ctx context.Context, d blobstore.Disk) {
	put(t, ctx, d, "t", pattern(3, 1000))
	f, err := d.Create(ctx, "t", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(20); err != nil {
		t.Fatal(err)
	}
	if size, err := f.Size(); size != 20 || err != nil {
		t.Fatalf("size = %d, %v; want 20", size, err)
	}
	buf := make([]byte, 20)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	want := append(pattern(3, 10), make([]byte, 10)...)
	if !bytes.Equal(buf, want) {
		t.Errorf("after truncate to 10 and back to 20 = %v, want the first 10 bytes then zeros", buf)
	}
}

func contractRemove(t *testing.T, ctx context.Context, d blobstore.Disk) {
	put(t, ctx, d, "r/f", []byte("x"))
	for i := range 2 {
		if err := d.Remove(ctx, "r/f"); err != nil {
			t.Fatalf("remove #%d: %v", i+1, err)
		}
	}
	if _, err := d.Open(ctx, "r/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open removed file: %v, want fs.ErrNotExist", err)
	}
	if err := d.Remove(ctx, "never/was"); err != nil {
		t.Errorf("remove a file never created: %v", err)
	}
}

func contractRename(t *testing.T, ctx context.Context, d blobstore.Disk) {
	put(t, ctx, d, "x/new.part", []byte("new"))
	put(t, ctx, d, "y/final", []byte("old"))
	if err := d.Rename(ctx, "x/new.part", "y/final"); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ctx, d, "y/final"); string(got) != "new" {
		t.Errorf("renamed file holds %q, want new", got)
	}
	if _, err := d.Open(ctx, "x/new.part"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old name after rename: %v, want fs.ErrNotExist", err)
	}
	if err := d.Rename(ctx, "y/final", "z/deeper/moved"); err != nil {
		t.Fatalf("rename into a new folder: %v", err)
	}
	if got := get(t, ctx, d, "z/deeper/moved"); string(got) != "new" {
		t.Errorf("moved file holds %q, want new", got)
	}
}

// contractAtomicRename writes versions of a file under a temporary name and renames each over
// the final one while readers read it: a reader sees one whole version, never a mix or a
// short file.
func contractAtomicRename(t *testing.T, ctx context.Context, d blobstore.Disk) {
	const size, versions, readers = 64 << 10, 30, 4
	put(t, ctx, d, "atomic/f", pattern(0, size))
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			buf := make([]byte, size)
			for {
				select {
				case <-done:
					return
				default:
				}
				f, err := d.Open(ctx, "atomic/f")
				if err != nil {
					errs <- fmt.Errorf("open during renames: %w", err)
					return
				}
				n, err := f.ReadAt(buf, 0)
				f.Close()
				if n != size || err != nil && !errors.Is(err, io.EOF) {
					errs <- fmt.Errorf("read during renames: %d of %d, %v", n, size, err)
					return
				}
				if !bytes.Equal(buf, pattern(buf[0], size)) {
					errs <- errors.New("a reader saw a mix of two versions")
					return
				}
			}
		})
	}
	for v := 1; v <= versions; v++ {
		put(t, ctx, d, "atomic/f.part", pattern(byte(v), size))
		if err := d.Rename(ctx, "atomic/f.part", "atomic/f"); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := get(t, ctx, d, "atomic/f"); !bytes.Equal(got, pattern(versions, size)) {
		t.Error("the final file is not the last version")
	}
}

func contractList(t *testing.T, ctx context.Context, d blobstore.Disk) {
	for _, n := range []string{"shards/ab/f.0", "shards/ab/f.1", "shards/cd/g.0", "shardsx/h", "tails/t"} {
		put(t, ctx, d, n, []byte(n))
	}
	got, err := d.List(ctx, "shards")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"shards/ab/f.0", "shards/ab/f.1", "shards/cd/g.0"}
	if !slices.Equal(got, want) {
		t.Errorf("List(shards) = %q, want %q", got, want)
	}
}

func contractUsage(t *testing.T, ctx context.Context, d blobstore.Disk) {
	total, free, err := d.Usage(ctx)
	if err != nil || total == 0 || free > total {
		t.Errorf("Usage = %d total, %d free, %v; want total > 0 and free ≤ total", total, free, err)
	}
}

func contractConcurrentFiles(t *testing.T, ctx context.Context, d blobstore.Disk) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("c/%02d/f", i)
			data := pattern(byte(i), 10000+i)
			f, err := d.Create(ctx, name, true)
			if err != nil {
				errs <- err
				return
			}
			if _, err := f.WriteAt(data, 0); err != nil {
				errs <- err
			}
			f.Close()
			g, err := d.Open(ctx, name)
			if err != nil {
				errs <- err
				return
			}
			buf := make([]byte, len(data))
			if _, err := g.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
				errs <- err
			}
			g.Close()
			if !bytes.Equal(buf, data) {
				errs <- fmt.Errorf("%s read back differs", name)
			}
			if i%2 == 0 {
				if err := d.Remove(ctx, name); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	names, err := d.List(ctx, "c")
	if err != nil || len(names) != n/2 {
		t.Errorf("after the burst List(c) = %d names, %v; want %d", len(names), err, n/2)
	}
}

func contractConcurrentOffsets(t *testing.T, ctx context.Context, d blobstore.Disk) {
	const pieces, piece = 8, 100 << 10
	f, err := d.Create(ctx, "offsets", true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for i := range pieces {
		wg.Go(func() {
			if _, err := f.WriteAt(pattern(byte(i), piece), int64(i*piece)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range pieces {
		wg.Go(func() {
			buf := make([]byte, piece)
			if _, err := f.ReadAt(buf, int64(i*piece)); err != nil && !errors.Is(err, io.EOF) {
				t.Error(err)
			}
			if !bytes.Equal(buf, pattern(byte(i), piece)) {
				t.Errorf("piece %d differs", i)
			}
		})
	}
	wg.Wait()
}

// contractFaults checks the error paths through a FaultDisk: every operation returns the
// injected error unchanged (errors.Is), and a failed one leaves the disk as it was.
func contractFaults(t *testing.T, ctx context.Context, d blobstore.Disk) {
	put(t, ctx, d, "f/a", []byte("before"))
	fd := NewFaultDisk(d)
	// The file operations come first, on a handle of f/a that the later Remove and Rename
	// would leave pointing at an unlinked file.
	open, err := fd.Create(ctx, "f/a", false)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	eio := fmt.Errorf("injected: %w", syscall.EIO)
	for _, tc := range []struct {
		op  Op
		run func() error
	}{
		{OpRead, func() error { _, err := open.ReadAt(make([]byte, 3), 0); return err }},
		{OpWrite, func() error { _, err := open.WriteAt([]byte("XX"), 0); return err }},
		{OpSize, func() error { _, err := open.Size(); return err }},
		{OpTruncate, func() error { return open.Truncate(0) }},
		{OpSync, func() error { return open.Sync() }},
		{OpOpen, func() error { _, err := fd.Open(ctx, "f/a"); return err }},
		{OpCreate, func() error { _, err := fd.Create(ctx, "f/a", true); return err }},
		{OpList, func() error { _, err := fd.List(ctx, "f"); return err }},
		{OpUsage, func() error { _, _, err := fd.Usage(ctx); return err }},
		{OpRemove, func() error { return fd.Remove(ctx, "f/a") }},
		{OpRename, func() error { return fd.Rename(ctx, "f/a", "f/b") }},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			fd.Fail(tc.op, eio)
			err := tc.run()
			fd.Fail(tc.op, nil)
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("%s with a fault = %v, want the injected EIO", tc.op, err)
			}
			if got := get(t, ctx, d, "f/a"); string(got) != "before" {
				t.Errorf("after a failed %s the file holds %q, want it unchanged", tc.op, got)
			}
			if err := tc.run(); err != nil {
				t.Errorf("%s once healed: %v", tc.op, err)
			}
			if tc.op == OpRename || tc.op == OpRemove || tc.op == OpWrite || tc.op == OpTruncate || tc.op == OpCreate {
				put(t, ctx, d, "f/a", []byte("before")) // the healed run changed it: restore
				d.Remove(ctx, "f/b")
			}
		})
	}
}
