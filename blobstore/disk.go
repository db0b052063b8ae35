package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Disk is one local disk holding shard files and staged tails, addressed by slash-separated
// relative names ("shards/ab/FILE.0.part"). Implementations must be safe for concurrent use,
// and run blobtest.DiskContract in their tests. Faults are injected in tests with
// blobtest.FaultDisk, or by embedding a Disk and overriding one method.
type Disk interface {
	// ID returns the disk's cluster-wide ID.
	ID() DiskID
	// Open opens an existing file for reading. A missing file gives an error wrapping
	// fs.ErrNotExist.
	Open(ctx context.Context, name string) (File, error)
	// Create opens name for reading and writing, creating it and its parent folders when
	// missing; truncate empties an existing file. The new name is durable after the file's
	// first successful Sync.
	Create(ctx context.Context, name string, truncate bool) (File, error)
	// Remove deletes a file; a missing file is not an error. A File already open on it keeps
	// reading what it held until closed.
	Remove(ctx context.Context, name string) error
	// Rename atomically and durably (the folder is synced) renames oldName to newName,
	// replacing newName: a reader opening newName sees the old file or the new one, whole,
	// and a File already open on the old newName keeps reading it. A missing oldName gives an
	// error wrapping fs.ErrNotExist.
	Rename(ctx context.Context, oldName, newName string) error
	// List returns the names of the files under dir (recursively), relative to the disk, in
	// no particular order. A missing dir gives no names and no error.
	List(ctx context.Context, dir string) ([]string, error)
	// Usage returns the disk's size and free space in bytes.
	Usage(ctx context.Context) (total, free uint64, err error)
}

// File is an open file of a Disk. ReadAt and WriteAt may be called concurrently at different
// offsets; the other methods not concurrently with writes.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size returns the current size.
	Size() (int64, error)
	// Truncate changes the size.
	Truncate(size int64) error
	// Sync makes all writes so far durable.
	Sync() error
	Close() error
}

// willNeeder is implemented by Files that can start reading a range into the page cache
// ahead of the reads that need it (a hint: it returns at once, and never fails). A Get
// announces the stripes it will read next, so that a cold read keeps the disk's queue full
// instead of waiting for one piece at a time.
type willNeeder interface {
	WillNeed(off, n int64)
}

// writeBacker is implemented by Files that can start writing a range to the disk (a hint: it
// never fails, and Sync still makes the range durable). A Writer asks for each stripe's
// write-back once it wrote the stripe, so that the disk works while the upload streams and
// the final fsync waits for the last stripes only, not the whole file (the kernel would
// otherwise keep gigabytes dirty until that fsync). StartWriteback may block while the
// disk's queue is full (sync_file_range does): the Writer calls it from a goroutine of its
// own, off the byte path, and drops the hint when that goroutine lags.
type writeBacker interface {
	StartWriteback(off, n int64)
}

// NewDirDisk returns the Disk of an existing directory. The directory is never created: a
// missing mount point must not silently fill the root file system.
func NewDirDisk(id DiskID, path string) (Disk, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty disk ID", ErrInvalidConfig)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", id, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", id, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("disk %s: %s is not a directory", id, abs)
	}
	return &dirDisk{id: id, root: abs}, nil
}

var _ Disk = (*dirDisk)(nil)

// dirDisk is a Disk in a directory of the local file system.
type dirDisk struct {
	id   DiskID
	root string
}

func (d *dirDisk) ID() DiskID { return d.id }

func (d *dirDisk) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("disk %s: bad file name %q", d.id, name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d *dirDisk) Open(_ context.Context, name string) (File, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	return &dirFile{File: f}, nil
}

func (d *dirDisk) Create(_ context.Context, name string, truncate bool) (File, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(d.root); err != nil {
		return nil, fmt.Errorf("disk %s root: %w", d.id, err)
	}
	dir := filepath.Dir(p)
	newDirs, err := mkdirs(d.root, dir)
	if err != nil {
		return nil, err
	}
	flags := os.O_RDWR | os.O_CREATE
	if truncate {
		flags |= os.O_TRUNC
	}
	_, statErr := os.Lstat(p)
	f, err := os.OpenFile(p, flags, 0o600)
	if err != nil {
		return nil, err
	}
	df := &dirFile{File: f}
	if statErr != nil || len(newDirs) > 0 {
		// The name is new: sync the folders that hold it at the first Sync.
		df.syncDirs = append([]string{dir}, newDirs...)
	}
	if isShardPart(name) {
		return &fencedFile{df}, nil // fence.go
	}
	return df, nil
}

// mkdirs creates dir (below root) and returns the parents of the folders it created, which
// must be synced for the new entries to be durable.
func mkdirs(root, dir string) ([]string, error) {
	var created []string
	for p := dir; p != root && len(p) > len(root); p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		created = append(created, p)
	}
	if len(created) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	parents := make([]string, 0, len(created))
	for _, c := range created {
		parents = append(parents, filepath.Dir(c))
	}
	return parents, nil
}

func (d *dirDisk) Remove(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (d *dirDisk) Rename(_ context.Context, oldName, newName string) error {
	op, err := d.path(oldName)
	if err != nil {
		return err
	}
	np, err := d.path(newName)
	if err != nil {
		return err
	}
	if _, err := mkdirs(d.root, filepath.Dir(np)); err != nil {
		return err
	}
	if err := os.Rename(op, np); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(np)); err != nil {
		return err
	}
	if filepath.Dir(op) != filepath.Dir(np) {
		return syncDir(filepath.Dir(op))
	}
	return nil
}

func (d *dirDisk) List(_ context.Context, dir string) ([]string, error) {
	p, err := d.path(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(d.root, path)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	return names, err
}

func (d *dirDisk) Usage(_ context.Context) (uint64, uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.root, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", d.root, err)
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// dirFile is a File of a dirDisk.
type dirFile struct {
	*os.File
	syncDirs []string // folders to sync at the first Sync; only touched by Sync
}

func (f *dirFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f *dirFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	for len(f.syncDirs) > 0 {
		if err := syncDir(f.syncDirs[0]); err != nil {
			return err
		}
		f.syncDirs = f.syncDirs[1:]
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
