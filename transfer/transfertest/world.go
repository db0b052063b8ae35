package transfertest

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/internal/testlog"
)

// The real parts that the tests of transfer and of upload build their world on: one harness,
// since upload's tests cannot import transfer's test files.

// Clock is a clock the test moves by hand. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Rand makes a seeded ChaCha8 an io.Reader, for a Service's deterministic IDs and tokens (the
// Service serialises its reads).
type Rand struct{ R *rand.ChaCha8 }

// Read fills p from the generator.
func (l Rand) Read(p []byte) (int, error) { return l.R.Read(p) }

// Logger sends warnings and errors to the test's output.
func Logger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

// NewBlobstore builds a real blobstore on three new directory disks, 2+1, tiny blocks; it
// returns the disks' directories too.
func NewBlobstore(t testing.TB) (*blobstore.Store, []string) {
	t.Helper()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	return OpenBlobstore(t, dirs), dirs
}

// OpenBlobstore opens a new blobstore over existing disk directories, as a restarted node
// does; file keys are wrapped under a fixed key, so it opens the files of the first.
func OpenBlobstore(t testing.TB, dirs []string) *blobstore.Store {
	t.Helper()
	disks := map[blobstore.DiskID]blobstore.Disk{}
	var infos []blobstore.DiskInfo
	for i, dir := range dirs {
		id := blobstore.DiskID(fmt.Sprintf("d%d", i))
		d, err := blobstore.NewDirDisk(id, dir)
		if err != nil {
			t.Fatal(err)
		}
		disks[id] = d
		infos = append(infos, blobstore.DiskInfo{ID: id, FreeBytes: 1 << 40})
	}
	cfg := blobstore.DefaultConfig()
	cfg.BlockSize = 256
	cfg.Layout = "2+1"
	cfg.MinFreeBytes = 0
	cmap := blobstore.ClusterMap{Sites: []blobstore.Site{{ID: "s1", Nodes: []blobstore.Node{{ID: "n1", Disks: infos}}}}}
	bs, err := blobstore.New(cfg, cmap, disks, nil, Keys(), Logger(t))
	if err != nil {
		t.Fatalf("blobstore: %v", err)
	}
	t.Cleanup(func() { bs.Close() })
	return bs
}

// Keys wraps file keys with AES-GCM under a fixed key, binding the file ID: a blobstore
// reopened in the same test opens the files of the first.
func Keys() *blobtest.KeyWrapper { return blobtest.NewKeyWrapperWithKey(bytes.Repeat([]byte{7}, 32)) }

// CountFiles counts the regular files under dirs whose name holds id (a file's shards).
func CountFiles(t testing.TB, dirs []string, id string) int {
	t.Helper()
	n := 0
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.Contains(e.Name(), id) {
				n++
			}
			return nil
		})
	}
	return n
}
