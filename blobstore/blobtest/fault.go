package blobtest

import (
	"context"
	"sync"

	"valise/blobstore"
)

// Op names an operation of a Disk or of its Files that a FaultDisk can fail.
type Op string

// The operations a FaultDisk can fail.
const (
	OpOpen     Op = "open"
	OpCreate   Op = "create"
	OpRemove   Op = "remove"
	OpRename   Op = "rename"
	OpList     Op = "list"
	OpUsage    Op = "usage"
	OpRead     Op = "read"     // File.ReadAt
	OpWrite    Op = "write"    // File.WriteAt
	OpSize     Op = "size"     // File.Size
	OpTruncate Op = "truncate" // File.Truncate
	OpSync     Op = "sync"     // File.Sync
)

// FaultDisk wraps a Disk and fails the operations it is told to, with the error it is given,
// before they reach the wrapped disk (so a failed Rename or WriteAt changes nothing). Faults
// apply to the files it opened earlier too. With no fault set it is the wrapped disk. Safe for
// concurrent use. Its files do not pass on the wrapped files' optional hints (WillNeed,
// StartWriteback): the byte path works without them.
type FaultDisk struct {
	blobstore.Disk

	mu     sync.Mutex // guards faults
	faults map[Op]error
}

var _ blobstore.Disk = (*FaultDisk)(nil)

// NewFaultDisk returns a FaultDisk over d, with no fault set.
func NewFaultDisk(d blobstore.Disk) *FaultDisk {
	return &FaultDisk{Disk: d, faults: map[Op]error{}}
}

// Fail makes every later op fail with err (a nil err clears the fault) and returns d.
func (d *FaultDisk) Fail(op Op, err error) *FaultDisk {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.faults, op)
	} else {
		d.faults[op] = err
	}
	return d
}

// Heal clears every fault.
func (d *FaultDisk) Heal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.faults)
}

func (d *FaultDisk) fault(op Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.faults[op]
}

// Open opens name on the wrapped disk unless OpOpen fails.
func (d *FaultDisk) Open(ctx context.Context, name string) (blobstore.File, error) {
	if err := d.fault(OpOpen); err != nil {
		return nil, err
	}
	f, err := d.Disk.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, d: d}, nil
}

// Create creates name on the wrapped disk unless OpCreate fails.
func (d *FaultDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	if err := d.fault(OpCreate); err != nil {
		return nil, err
	}
	f, err := d.Disk.Create(ctx, name, truncate)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, d: d}, nil
}

// Remove removes name from the wrapped disk unless OpRemove fails.
func (d *FaultDisk) Remove(ctx context.Context, name string) error {
	if err := d.fault(OpRemove); err != nil {
		return err
	}
	return d.Disk.Remove(ctx, name)
}

// Rename renames on the wrapped disk unless OpRename fails.
func (d *FaultDisk) Rename(ctx context.Context, oldName, newName string) error {
	if err := d.fault(OpRename); err != nil {
		return err
	}
	return d.Disk.Rename(ctx, oldName, newName)
}

// List lists the wrapped disk unless OpList fails.
func (d *FaultDisk) List(ctx context.Context, dir string) ([]string, error) {
	if err := d.fault(OpList); err != nil {
		return nil, err
	}
	return d.Disk.List(ctx, dir)
}

// Usage asks the wrapped disk unless OpUsage fails.
func (d *FaultDisk) Usage(ctx context.Context) (uint64, uint64, error) {
	if err := d.fault(OpUsage); err != nil {
		return 0, 0, err
	}
	return d.Disk.Usage(ctx)
}

// faultFile is a File of a FaultDisk.
type faultFile struct {
	blobstore.File
	d *FaultDisk
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.d.fault(OpRead); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.d.fault(OpWrite); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Size() (int64, error) {
	if err := f.d.fault(OpSize); err != nil {
		return 0, err
	}
	return f.File.Size()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.d.fault(OpTruncate); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Sync() error {
	if err := f.d.fault(OpSync); err != nil {
		return err
	}
	return f.File.Sync()
}
