package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"valise/blobstore"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
	"valise/transfer/transfertest"
	"valise/userid"
)

// The world's real parts come from transfertest, shared with the other package's tests.
type (
	testClock  = transfertest.Clock
	lockedRand = transfertest.Rand
)

func testLogger(t testing.TB) *slog.Logger { return transfertest.Logger(t) }

// newMetadata starts a real one-node raftfsm.Store in t.TempDir with short timeouts.
func newMetadata(t testing.TB) *raftfsm.Store {
	t.Helper()
	return rafttest.NewStore(t)
}

// warmUp waits until the leader serves linearizable reads (its first one of the term runs a
// barrier).
func warmUp(t testing.TB, st *raftfsm.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.LinearizableRead(ctx); err != nil {
		t.Fatalf("first linearizable read: %v", err)
	}
}

// owner is the user whose uploads, files and sends most tests make.
const owner = "alice"

// testHasher hashes link passwords cheaply (transfertest.Hasher).
type testHasher = transfertest.Hasher

// env is one test's world: a real metadata store, a real blobstore, a service on them.
type env struct {
	t     testing.TB
	ctx   context.Context
	meta  *raftfsm.Store
	bs    *blobstore.Store
	dirs  []string
	blobs Blobs
	clock *testClock
	svc   *Service
}

type envOption func(*Config, *Deps)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), clock: transfertest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))}
	e.meta = newMetadata(t)
	e.bs, e.dirs = newBlobstore(t)
	e.blobs = NewStoreBlobs(e.bs)
	cfg := DefaultConfig()
	deps := Deps{
		Store: e.meta, Blobs: e.blobs, Hasher: testHasher{}, Logger: testLogger(t),
		Now: e.clock.Now, Rand: lockedRand{R: rand.NewChaCha8([32]byte{1, 2, 3})},
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	e.blobs = deps.Blobs
	svc, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	e.svc = svc
	return e
}

// upload stores data as owner's file through the whole path: tus bookkeeping, the real
// blobstore with a checkpoint midway, completion with verdict.
func (e *env) upload(owner userid.ID, name string, data []byte, v Verdict) File {
	e.t.Helper()
	up, err := e.svc.CreateUpload(e.ctx, owner, name, int64(len(data)), nil)
	if err != nil {
		e.t.Fatalf("create upload: %v", err)
	}
	w, err := e.bs.Create(e.ctx, blobstore.FileID(up.ID))
	if err != nil {
		e.t.Fatalf("blob create: %v", err)
	}
	half := len(data) / 2
	if _, err := w.Write(data[:half]); err != nil {
		e.t.Fatal(err)
	}
	st, err := w.Checkpoint(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	stb, _ := st.MarshalBinary()
	if _, err := e.svc.RecordProgress(e.ctx, owner, up.ID, 0, int64(half), stb); err != nil {
		e.t.Fatalf("record progress: %v", err)
	}
	if _, err := w.Write(data[half:]); err != nil {
		e.t.Fatal(err)
	}
	m, err := w.Commit(e.ctx)
	if err != nil {
		e.t.Fatalf("commit: %v", err)
	}
	mb, _ := m.MarshalBinary()
	sum := sha256.Sum256(data)
	f, err := e.svc.CompleteUpload(e.ctx, owner, up.ID, Completion{Manifest: mb, SHA256: hex.EncodeToString(sum[:]), Verdict: v})
	if err != nil {
		e.t.Fatalf("complete upload: %v", err)
	}
	return f
}

// send creates a send of files from owner to recipients with options.
func (e *env) send(owner userid.ID, files []File, to []string, opts Options) Created {
	e.t.Helper()
	req := SendRequest{From: Sender{Name: "Alice", Email: "alice@example.org"}, To: to, Subject: "Files", Message: "Here.", Options: opts}
	for _, f := range files {
		req.FileIDs = append(req.FileIDs, f.ID)
	}
	c, err := e.svc.CreateSend(e.ctx, owner, req)
	if err != nil {
		e.t.Fatalf("create send: %v", err)
	}
	return c
}

// download downloads a file through a link with the real blobstore and checks its bytes.
func (e *env) download(token, grant string, f File, complete bool) Outcome {
	e.t.Helper()
	tk, err := e.svc.StartDownload(e.ctx, token, grant, f.ID, "192.0.2.1", false)
	if err != nil {
		e.t.Fatalf("start download: %v", err)
	}
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(tk.Manifest); err != nil {
		e.t.Fatal(err)
	}
	r, err := e.bs.Open(e.ctx, m)
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		e.t.Fatalf("read: %v", err)
	}
	r.Close()
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		e.t.Fatalf("downloaded SHA-256 %s, want %s", got, f.SHA256)
	}
	served := f.Size // a cut download served nothing
	if !complete {
		served = 0
	}
	out, err := e.svc.FinishDownload(e.ctx, tk, served)
	if err != nil {
		e.t.Fatalf("finish download: %v", err)
	}
	return out
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
func countFiles(t testing.TB, dirs []string, id FileID) int {
	return transfertest.CountFiles(t, dirs, string(id))
}
