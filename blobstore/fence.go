package blobstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
)

// Generation fence (issue 18): a shard file being written refuses the writes of an older write
// generation, on the disk that holds it, so a writer that lost its upload's lease (a node
// paused past its lease, a stale process) can no longer change a shard that a newer writer
// reopened, whoever sends the bytes: this process, or another node through the shard transport
// (shardnet's server serves the same Disk). The rule, for "shards/…/<id>.<i>.part" files:
//
//   - a header write (offset 0) must carry a generation high-water mark above the file's
//     current one (a file with no valid header takes any: Create's, or a rebuilt file's);
//   - a piece write must carry the file's current generation: below it is a stale writer's,
//     above it no header claimed it.
//
// Writes are checked and done under the file's lock (flock: shared for pieces, which run in
// parallel, exclusive for the header), so a header raised by a Resume orders every piece
// write: those after it are checked against it. The lock is the open file description's, so
// it holds across the Files of one process and across processes.

// ErrStaleGeneration is wrapped by a shard file's WriteAt that the generation fence refused:
// a header that does not raise the file's generation, or a piece of another generation than
// the file's. The writer counts the shard as failed; a writer that lost its lease fails.
var ErrStaleGeneration = errors.New("blobstore: write of a stale generation refused")

// isShardPart says whether name is a shard file being written (see shardName).
func isShardPart(name string) bool {
	return strings.HasPrefix(name, shardsDir+"/") && strings.HasSuffix(name, ".part")
}

// fencedFile is a dirFile of a shard being written: its WriteAt applies the generation fence.
type fencedFile struct {
	*dirFile
}

// WriteAt checks p against the file's header under the file's lock, then writes it.
func (f *fencedFile) WriteAt(p []byte, off int64) (int, error) {
	how := syscall.LOCK_SH
	if off < fileHeaderSize {
		how = syscall.LOCK_EX
	}
	fd := int(f.Fd())
	if err := flock(fd, how); err != nil {
		return 0, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	defer flock(fd, syscall.LOCK_UN)
	if err := checkGeneration(f.dirFile, p, off); err != nil {
		return 0, fmt.Errorf("write %s at %d: %w", f.Name(), off, err)
	}
	return f.dirFile.WriteAt(p, off)
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// checkGeneration applies the fence's rule to a write of p at off into the shard file r.
func checkGeneration(r io.ReaderAt, p []byte, off int64) error {
	var cur uint32
	have := false
	buf := make([]byte, fileHeaderSize)
	if n, _ := r.ReadAt(buf, 0); n == fileHeaderSize {
		if h, err := parseFileHeader(buf); err == nil {
			cur, have = h.genHighWater, true
		}
	}
	switch {
	case off == 0:
		h, err := parseFileHeader(p)
		switch {
		case err != nil && have:
			return fmt.Errorf("%w: not a shard header over generation %d: %w", ErrStaleGeneration, cur, err)
		case err == nil && have && h.genHighWater <= cur:
			return fmt.Errorf("%w: header of generation %d over generation %d", ErrStaleGeneration, h.genHighWater, cur)
		}
	case off >= fileHeaderSize && len(p) >= 16 && string(p[:4]) == pieceMagic:
		gen := binary.BigEndian.Uint32(p[12:])
		switch {
		case !have:
			return fmt.Errorf("%w: piece of generation %d in a file with no header", ErrStaleGeneration, gen)
		case gen != cur:
			return fmt.Errorf("%w: piece of generation %d in a file of generation %d", ErrStaleGeneration, gen, cur)
		}
	}
	return nil
}
