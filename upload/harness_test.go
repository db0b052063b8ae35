package upload

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"valise/blobstore"
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

// The world's real parts come from transfertest, shared with the other package's tests.
type (
	testClock  = transfertest.Clock
	lockedRand = transfertest.Rand
)

func testLogger(t testing.TB) *slog.Logger { return transfertest.Logger(t) }

// testHasher hashes link passwords cheaply (transfertest.Hasher).
type testHasher = transfertest.Hasher

// newMetadata starts a real one-node raftfsm.Store in t.TempDir with short timeouts.
func newMetadata(t testing.TB) *raftfsm.Store {
	t.Helper()
	return rafttest.NewStore(t)
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
	e := &env{t: t, ctx: t.Context(), clock: transfertest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))}
	e.meta = newMetadata(t)
	e.bs, e.dirs = newBlobstore(t)
	deps := transfer.Deps{
		Store: e.meta, Blobs: transfer.NewStoreBlobs(e.bs), Hasher: testHasher{}, Logger: testLogger(t),
		Now: e.clock.Now, Rand: lockedRand{R: rand.NewChaCha8([32]byte{1, 2, 3})},
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

func newBlobstore(t testing.TB) (*blobstore.Store, []string) { return transfertest.NewBlobstore(t) }

// countFiles counts the shard files of id under dirs.
func countFiles(t testing.TB, dirs []string, id transfer.FileID) int {
	return transfertest.CountFiles(t, dirs, string(id))
}

func openBlobstore(t testing.TB, dirs []string) *blobstore.Store {
	return transfertest.OpenBlobstore(t, dirs)
}
