// Package blobtest holds test helpers for blobstore and its callers: an AES-GCM KeyWrapper, a
// RAM-backed Disk, directory disks under a test's temporary folder, a Disk that injects faults
// (FaultDisk) and the contract every Disk implementation runs (DiskContract).
package blobtest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"valise/blobstore"
	"valise/internal/testlog"
)

// KeyWrapper is a blobstore.KeyWrapper sealing keys with AES-256-GCM under a random key
// encryption key, the file ID as additional data. It counts its calls.
type KeyWrapper struct {
	aead cipher.AEAD

	mu      sync.Mutex // guards Wraps
	wrapped int
}

// NewKeyWrapper returns a KeyWrapper with a fresh random key encryption key.
func NewKeyWrapper() *KeyWrapper {
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		panic(err)
	}
	return NewKeyWrapperWithKey(kek)
}

// NewKeyWrapperWithKey returns a KeyWrapper under the given 32-byte key encryption key: two
// wrappers with the same key open each other's keys, as a node restarted on its key file does.
func NewKeyWrapperWithKey(kek []byte) *KeyWrapper {
	b, err := aes.NewCipher(kek)
	if err != nil {
		panic(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &KeyWrapper{aead: a}
}

// Wrap seals plainKey for fileID.
func (k *KeyWrapper) Wrap(_ context.Context, fileID blobstore.FileID, plainKey []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.wrapped++
	k.mu.Unlock()
	return k.aead.Seal(nonce, nonce, plainKey, []byte(fileID)), nil
}

// Unwrap opens what Wrap sealed for fileID.
func (k *KeyWrapper) Unwrap(_ context.Context, fileID blobstore.FileID, wrapped []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(wrapped) < ns {
		return nil, errors.New("blobtest: wrapped key too short")
	}
	p, err := k.aead.Open(nil, wrapped[:ns], wrapped[ns:], []byte(fileID))
	if err != nil {
		return nil, fmt.Errorf("blobtest: unwrap key of %s: %w", fileID, err)
	}
	return p, nil
}

// Wraps returns the number of Wrap calls so far.
func (k *KeyWrapper) Wraps() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.wrapped
}

// Logger returns a logger writing to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return testlog.New(t, slog.LevelWarn)
}

// DirDisks creates n directory disks "d0".."d(n-1)" under root (created when missing) and
// returns them by ID with their directories.
func DirDisks(t testing.TB, root string, n int) (map[blobstore.DiskID]blobstore.Disk, map[blobstore.DiskID]string) {
	t.Helper()
	disks := map[blobstore.DiskID]blobstore.Disk{}
	dirs := map[blobstore.DiskID]string{}
	for i := range n {
		id := blobstore.DiskID(fmt.Sprintf("d%d", i))
		dir := filepath.Join(root, string(id))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		d, err := blobstore.NewDirDisk(id, dir)
		if err != nil {
			t.Fatal(err)
		}
		disks[id], dirs[id] = d, dir
	}
	return disks, dirs
}

// MemDisks returns n RAM-backed disks "m0".."m(n-1)".
func MemDisks(n int) map[blobstore.DiskID]blobstore.Disk {
	disks := map[blobstore.DiskID]blobstore.Disk{}
	for i := range n {
		id := blobstore.DiskID(fmt.Sprintf("m%d", i))
		disks[id] = NewMemDisk(id, 0)
	}
	return disks
}

// ClusterMap returns a one-site, one-node map of the disks, each with plenty of free space.
func ClusterMap(disks map[blobstore.DiskID]blobstore.Disk) blobstore.ClusterMap {
	n := blobstore.Node{ID: "n1"}
	ids := make([]string, 0, len(disks))
	for id := range disks {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	for _, id := range ids {
		n.Disks = append(n.Disks, blobstore.DiskInfo{ID: blobstore.DiskID(id), Weight: 1, FreeBytes: 1 << 40})
	}
	return blobstore.ClusterMap{Sites: []blobstore.Site{{ID: "s1", Nodes: []blobstore.Node{n}}}}
}

// MemDisk is a blobstore.Disk in memory. Capacity 0 means unlimited; otherwise writes past it
// fail with ENOSPC.
type MemDisk struct {
	id       blobstore.DiskID
	capacity int64

	mu    sync.Mutex // guards files, used, spare
	files map[string]*memFile
	used  int64
	spare [][]byte // chunks of removed files, reused like a RAM disk's pages
}

func (d *MemDisk) chunk() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.spare); n > 0 {
		c := d.spare[n-1]
		d.spare = d.spare[:n-1]
		clear(c)
		return c
	}
	return make([]byte, memChunk)
}

// release keeps a removed file's chunks for reuse (up to 1 GiB); called with d.mu held.
func (d *MemDisk) release(f *memFile) {
	for _, c := range f.chunks {
		if c != nil && len(d.spare) < 1024 {
			d.spare = append(d.spare, c)
		}
	}
	f.chunks = nil
}

var _ blobstore.Disk = (*MemDisk)(nil)

// NewMemDisk returns an empty MemDisk.
func NewMemDisk(id blobstore.DiskID, capacity int64) *MemDisk {
	return &MemDisk{id: id, capacity: capacity, files: map[string]*memFile{}}
}

// memChunk is the unit of a memFile's storage: files grow by chunks, never by copying.
const memChunk = 1 << 20

type memFile struct {
	mu     sync.RWMutex // guards chunks, size
	chunks [][]byte     // memChunk bytes each, nil where never written (reads as zeros)
	size   int64

	// refs counts the open handles and unlinked says no name leads to the file any more;
	// both guarded by MemDisk.mu. An unlinked file is dropped when its last handle closes, so
	// a reader keeps reading a file that Rename replaced or Remove deleted, as on a real disk.
	refs     int
	unlinked bool
}

// ID returns the disk's ID.
func (d *MemDisk) ID() blobstore.DiskID { return d.id }

// Open opens an existing file.
func (d *MemDisk) Open(_ context.Context, name string) (blobstore.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f.refs++
	return &memHandle{d: d, f: f}, nil
}

// Create opens or creates a file.
func (d *MemDisk) Create(_ context.Context, name string, truncate bool) (blobstore.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[name]
	if !ok {
		f = &memFile{}
		d.files[name] = f
	}
	f.refs++
	h := &memHandle{d: d, f: f}
	if truncate {
		d.mu.Unlock()
		err := h.Truncate(0)
		d.mu.Lock()
		if err != nil {
			f.refs--
			return nil, err
		}
	}
	return h, nil
}

// Remove deletes a file.
func (d *MemDisk) Remove(_ context.Context, name string) error {
	d.mu.Lock()
	f, ok := d.files[name]
	delete(d.files, name)
	last := ok && d.unlink(f)
	d.mu.Unlock()
	if last {
		d.drop(f)
	}
	return nil
}

// unlink marks f as reached by no name and reports whether no handle holds it either, so that
// it must be dropped; called with d.mu held.
func (d *MemDisk) unlink(f *memFile) bool {
	f.unlinked = true
	return f.refs == 0
}

// drop releases a file no longer named nor open. Lock order: memFile.mu before MemDisk.mu.
func (d *MemDisk) drop(f *memFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.used -= f.size
	f.size = 0
	d.release(f)
}

// Rename renames a file.
func (d *MemDisk) Rename(_ context.Context, oldName, newName string) error {
	d.mu.Lock()
	f, ok := d.files[oldName]
	if !ok {
		d.mu.Unlock()
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	g, replaced := d.files[newName]
	delete(d.files, oldName)
	d.files[newName] = f
	last := replaced && g != f && d.unlink(g)
	d.mu.Unlock()
	if last {
		d.drop(g)
	}
	return nil
}

// List lists the files under dir.
func (d *MemDisk) List(_ context.Context, dir string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.files {
		if strings.HasPrefix(n, strings.TrimSuffix(dir, "/")+"/") {
			out = append(out, n)
		}
	}
	return out, nil
}

// Usage returns the capacity (or 1 TiB) and what is free of it.
func (d *MemDisk) Usage(context.Context) (uint64, uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.capacity
	if c == 0 {
		c = 1 << 40
	}
	return uint64(c), uint64(max(0, c-d.used)), nil
}

// Files returns the names of every file on the disk.
func (d *MemDisk) Files() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for n := range d.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type memHandle struct {
	d      *MemDisk
	f      *memFile
	closed atomic.Bool
}

// resize accounts for a new size against the disk's capacity; called with h.f.mu held.
func (h *memHandle) resize(size int64) error {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	delta := size - h.f.size
	if delta > 0 && h.d.capacity > 0 && h.d.used+delta > h.d.capacity {
		return syscall.ENOSPC
	}
	h.d.used += delta
	h.f.size = size
	return nil
}

func (h *memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.f.mu.RLock()
	defer h.f.mu.RUnlock()
	if off >= h.f.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(len(p)) > h.f.size-off {
		p = p[:h.f.size-off]
	}
	n := 0
	for n < len(p) {
		ci, co := (off+int64(n))/memChunk, (off+int64(n))%memChunk
		var c int
		if ci < int64(len(h.f.chunks)) && h.f.chunks[ci] != nil {
			c = copy(p[n:], h.f.chunks[ci][co:])
		} else {
			c = min(len(p)-n, int(memChunk-co))
			clear(p[n : n+c])
		}
		n += c
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

func (h *memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	end := off + int64(len(p))
	if end > h.f.size {
		if err := h.resize(end); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) {
		ci, co := (off+int64(n))/memChunk, (off+int64(n))%memChunk
		for int64(len(h.f.chunks)) <= ci {
			h.f.chunks = append(h.f.chunks, nil)
		}
		if h.f.chunks[ci] == nil {
			h.f.chunks[ci] = h.d.chunk()
		}
		n += copy(h.f.chunks[ci][co:], p[n:])
	}
	return len(p), nil
}

func (h *memHandle) Size() (int64, error) {
	h.f.mu.RLock()
	defer h.f.mu.RUnlock()
	return h.f.size, nil
}

func (h *memHandle) Truncate(size int64) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if size < h.f.size {
		// Zero what is cut off, so that growing again reads zeros.
		for pos := size; pos < h.f.size; {
			ci, co := pos/memChunk, pos%memChunk
			c := min(h.f.size-pos, memChunk-co)
			if ci < int64(len(h.f.chunks)) && h.f.chunks[ci] != nil {
				if co == 0 && c == memChunk {
					h.f.chunks[ci] = nil
				} else {
					clear(h.f.chunks[ci][co : co+c])
				}
			}
			pos += c
		}
	}
	return h.resize(size)
}

func (h *memHandle) Sync() error { return nil }

// Close releases the handle; the last handle of an unlinked file drops it.
func (h *memHandle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.d.mu.Lock()
	h.f.refs--
	last := h.f.refs == 0 && h.f.unlinked
	h.d.mu.Unlock()
	if last {
		h.d.drop(h.f)
	}
	return nil
}

// DiscardDisk accepts every write and keeps nothing (reads find no file): it measures the
// write pipeline alone, without the copy a RAM or page-cache disk makes.
type DiscardDisk struct{ id blobstore.DiskID }

var _ blobstore.Disk = DiscardDisk{}

// NewDiscardDisk returns a DiscardDisk.
func NewDiscardDisk(id blobstore.DiskID) DiscardDisk { return DiscardDisk{id: id} }

// ID returns the disk's ID.
func (d DiscardDisk) ID() blobstore.DiskID { return d.id }

// Open finds no file.
func (d DiscardDisk) Open(_ context.Context, name string) (blobstore.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Create returns a file that discards what is written.
func (d DiscardDisk) Create(context.Context, string, bool) (blobstore.File, error) {
	return &discardFile{}, nil
}

// Remove does nothing.
func (d DiscardDisk) Remove(context.Context, string) error { return nil }

// Rename does nothing.
func (d DiscardDisk) Rename(context.Context, string, string) error { return nil }

// List lists nothing.
func (d DiscardDisk) List(context.Context, string) ([]string, error) { return nil, nil }

// Usage reports 1 TiB free.
func (d DiscardDisk) Usage(context.Context) (uint64, uint64, error) { return 1 << 40, 1 << 40, nil }

type discardFile struct{}

func (*discardFile) ReadAt([]byte, int64) (int, error)      { return 0, io.EOF }
func (*discardFile) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (*discardFile) Size() (int64, error)                   { return 0, nil }
func (*discardFile) Truncate(int64) error                   { return nil }
func (*discardFile) Sync() error                            { return nil }
func (*discardFile) Close() error                           { return nil }

// NewDirStore returns a real Store for the tests of the packages above the byte path: n
// directory disks under t.TempDir() (see DirDisks), the given layout ("2+1") and block size
// (0: the default), keys wrapped by NewKeyWrapperWithKey with a fixed key (a store reopened
// in the same test reads the first one's files), closed at the test's end. It returns the
// disks' directories too.
func NewDirStore(t testing.TB, n int, layout string, blockSize int) (*blobstore.Store, map[blobstore.DiskID]string) {
	t.Helper()
	disks, dirs := DirDisks(t, t.TempDir(), n)
	cfg := blobstore.DefaultConfig()
	if blockSize > 0 {
		cfg.BlockSize = blockSize
	}
	cfg.Layout = layout
	cfg.MinFreeBytes = 0
	bs, err := blobstore.New(cfg, ClusterMap(disks), disks, nil, NewKeyWrapperWithKey(bytes.Repeat([]byte{7}, 32)), Logger(t))
	if err != nil {
		t.Fatalf("blobstore: %v", err)
	}
	t.Cleanup(func() { bs.Close() })
	return bs, dirs
}
