package upload

import (
	"bytes"
	"context"
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
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
	"valise/transfer"
	"valise/transfer/filetest"
	"valise/transfer/transfertest"
	"valise/userid"
)

// The world of the Pipeline's tests: a real metadata store, a real blobstore on directory
// disks and a transfer.Service on them, as transfer's own tests build it (its
// harness_test.go, which this package cannot import).

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lockedRand makes a seeded ChaCha8 an io.Reader (the Service serialises its reads anyway).
type lockedRand struct{ r *rand.ChaCha8 }

func (l lockedRand) Read(p []byte) (int, error) { return l.r.Read(p) }

func testLogger(t testing.TB) *slog.Logger {
	return testlog.New(t, slog.LevelWarn)
}

// testHasher hashes link passwords cheaply (transfertest.Hasher).
type testHasher = transfertest.Hasher

// newMetadata starts a real one-node raftfsm.Store in t.TempDir with short timeouts.
func newMetadata(t testing.TB) *raftfsm.Store {
	t.Helper()
	return rafttest.NewStore(t)
}

// newTestKeys wraps keys with AES-GCM under a fixed key, binding the file ID: a blobstore
// reopened in the same test opens the files of the first.
func newTestKeys(testing.TB) *blobtest.KeyWrapper {
	return blobtest.NewKeyWrapperWithKey(bytes.Repeat([]byte{7}, 32))
}

// newBlobstore builds a real blobstore on three new directory disks, 2+1, tiny blocks.
func newBlobstore(t testing.TB) (*blobstore.Store, []string) {
	t.Helper()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	return openBlobstore(t, dirs), dirs
}

// openBlobstore opens a new blobstore over existing disk directories, as a restarted node.
func openBlobstore(t testing.TB, dirs []string) *blobstore.Store {
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
	bs, err := blobstore.New(cfg, cmap, disks, newTestKeys(t), testLogger(t))
	if err != nil {
		t.Fatalf("blobstore: %v", err)
	}
	t.Cleanup(func() { bs.Close() })
	return bs
}

// countFiles counts the regular files under dirs whose name holds id.
func countFiles(t testing.TB, dirs []string, id transfer.FileID) int {
	t.Helper()
	n := 0
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.Contains(e.Name(), string(id)) {
				n++
			}
			return nil
		})
	}
	return n
}

// env is one test's world: a real metadata store, a real blobstore, a transfer.Service on
// them.
type env struct {
	t     testing.TB
	ctx   context.Context
	meta  *raftfsm.Store
	bs    *blobstore.Store
	dirs  []string
	clock *testClock
	svc   *transfer.Service
}

// newEnv builds an env; mods may change the Service's dependencies (a failing store).
func newEnv(t testing.TB, mods ...func(*transfer.Deps)) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), clock: &testClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}}
	e.meta = newMetadata(t)
	e.bs, e.dirs = newBlobstore(t)
	deps := transfer.Deps{
		Store: e.meta, Blobs: transfer.NewStoreBlobs(e.bs), Hasher: testHasher{}, Logger: testLogger(t),
		Now: e.clock.Now, Rand: lockedRand{rand.NewChaCha8([32]byte{1, 2, 3})},
	}
	for _, m := range mods {
		m(&deps)
	}
	svc, err := transfer.New(transfer.DefaultConfig(), deps)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	e.svc = svc
	return e
}

// upload stores data as owner's file with verdict v without the Pipeline: transfer's
// bookkeeping and the real blobstore (filetest).
func (e *env) upload(owner userid.ID, name string, data []byte, v transfer.Verdict) transfer.File {
	e.t.Helper()
	return filetest.StoreVerdict(e.ctx, e.t, e.svc, e.bs, owner, "", name, data, v)
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
