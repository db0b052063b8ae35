package node

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"valise/blobstore"
)

// A local disk's errors wake the disk probes at once: a disk directory deleted or unmounted
// while the node serves is failed at the first read or write that meets it (the probes then
// confirm it), not at the next repairTick, so that heal stops trying to write into it.

// watchedDisk is a local disk whose failed calls wake the probes.
type watchedDisk struct {
	blobstore.Disk
	root string
	r    *repairer
}

// watchDisk wraps local disk d at path root for r.
func (r *repairer) watchDisk(d blobstore.Disk, root string) blobstore.Disk {
	return &watchedDisk{Disk: d, root: root, r: r}
}

// check wakes the probes when err is not a plain missing file of a disk still there.
func (w *watchedDisk) check(err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(w.root); serr == nil {
			return // a missing shard file on a disk that is there
		}
	}
	select {
	case w.r.probeKick <- struct{}{}:
	default:
	}
}

func (w *watchedDisk) Open(ctx context.Context, name string) (blobstore.File, error) {
	f, err := w.Disk.Open(ctx, name)
	w.check(err)
	return f, err
}

func (w *watchedDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	f, err := w.Disk.Create(ctx, name, truncate)
	w.check(err)
	return f, err
}

// startProbeWatch starts the goroutine that probes the local disks when a disk call failed
// (watchedDisk), and has the repair loop record a disk found failed; it ends with r.
func (r *repairer) startProbeWatch() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-r.probeKick:
			}
			if r.probeDisks(r.ctx) {
				select {
				case r.kick <- "disk failed":
				default:
				}
			}
		}
	}()
}
