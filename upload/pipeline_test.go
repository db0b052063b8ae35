package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"hash"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/blobstore"
	"valise/raftfsm"
	"valise/scan"
	"valise/transfer"
)

// startClamd returns the package's shared clamd (main_test.go).
func startClamd(t testing.TB) *scan.Daemon { return clamd.Daemon(t) }

// switchScanner is a Scanner the test points at a clamd, at a dead socket, or at nothing.
type switchScanner struct {
	mu sync.Mutex // guards c
	c  *scan.Client
}

func (s *switchScanner) Client() *scan.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *switchScanner) set(c *scan.Client) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// deadClamd is a client of a socket nobody listens on: clamd is down.
func deadClamd(t testing.TB) *scan.Client {
	return &scan.Client{Network: "unix", Addr: filepath.Join(t.TempDir(), "none.sock"), Timeout: 2 * time.Second}
}

// errCut is the transport error of a client that went away.
var errCut = errors.New("test: client cut the connection")

// testChunk implements Chunk as the tus handler's chunk does: it reads from a
// bytes.Reader, optionally checks a SHA-256 announced by the client, and optionally fails
// with errCut after cut bytes.
type testChunk struct {
	r        *bytes.Reader
	want     []byte // announced SHA-256; nil: no checksum
	cut      int    // bytes after which Read fails; < 0: never
	read     int
	h        hash.Hash
	cutHit   bool
	verified int
	inRead   chan struct{} // when set, closed at the first Read
	release  chan struct{} // when set, the first Read waits for it
}

func newChunk(data []byte) *testChunk {
	return &testChunk{r: bytes.NewReader(data), cut: -1, h: sha256.New()}
}

func (c *testChunk) withSum(sum []byte) *testChunk { c.want = sum; return c }
func (c *testChunk) withCut(n int) *testChunk      { c.cut = n; return c }

func (c *testChunk) Read(p []byte) (int, error) {
	if c.inRead != nil {
		close(c.inRead)
		c.inRead = nil
		<-c.release
	}
	if c.cut >= 0 {
		if c.read >= c.cut {
			c.cutHit = true
			return 0, errCut
		}
		p = p[:min(len(p), c.cut-c.read)]
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.read += n
	return n, err
}

func (c *testChunk) Verify() error {
	c.verified++
	switch {
	case c.want == nil:
		return nil
	case c.cutHit:
		return transfer.ErrChunkIncomplete
	case !bytes.Equal(c.h.Sum(nil), c.want):
		return transfer.ErrChecksumMismatch
	}
	return nil
}

func sum256(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// uenv is an env with an Pipeline, a switchable scanner and the events it reported.
type uenv struct {
	*env
	sc *switchScanner
	up *Pipeline

	mu     sync.Mutex // guards events and evch
	events []Finished
	evch   chan struct{} // closed (and replaced) at each event; nil until needed
}

const owner = "alice"

func newUEnv(t *testing.T, c *scan.Client, mod ...func(*Config)) *uenv {
	t.Helper()
	u := &uenv{env: newEnv(t), sc: &switchScanner{c: c}}
	u.up = u.newUploader(u.svc, u.bs, mod...)
	return u
}

func (u *uenv) newUploader(svc *transfer.Service, bs *blobstore.Store, mod ...func(*Config)) *Pipeline {
	u.t.Helper()
	cfg := DefaultConfig()
	cfg.OnFinished = func(_ context.Context, f Finished) {
		u.mu.Lock()
		u.events = append(u.events, f)
		if u.evch != nil {
			close(u.evch)
			u.evch = nil
		}
		u.mu.Unlock()
	}
	for _, m := range mod {
		m(&cfg)
	}
	up, err := New(cfg, svc, bs, u.sc, testLogger(u.t))
	if err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() { up.Close() })
	return up
}

func (u *uenv) lastEvent() Finished {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.events) == 0 {
		u.t.Fatal("no OnFinished event")
	}
	return u.events[len(u.events)-1]
}

// eventFor waits (a minute at most) until OnFinished reported id and returns its last report.
func (u *uenv) eventFor(id transfer.FileID) Finished {
	u.t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		u.mu.Lock()
		for i := len(u.events) - 1; i >= 0; i-- {
			if u.events[i].File.ID == id {
				ev := u.events[i]
				u.mu.Unlock()
				return ev
			}
		}
		if u.evch == nil {
			u.evch = make(chan struct{})
		}
		ch := u.evch
		u.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			u.t.Fatalf("no OnFinished event for %s within a minute", id)
		}
	}
}

// hasEvent reports whether OnFinished reported id.
func (u *uenv) hasEvent(id transfer.FileID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, ev := range u.events {
		if ev.File.ID == id {
			return true
		}
	}
	return false
}

// waitVerdict waits (a minute at most) for the background scan's verdict on id through
// up.WaitVerdict, and returns the file as recorded.
func (u *uenv) waitVerdict(up *Pipeline, id transfer.FileID) transfer.File {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, time.Minute)
	defer cancel()
	v, err := up.WaitVerdict(ctx, owner, id)
	if err != nil {
		u.t.Fatalf("wait for the verdict of %s: %v", id, err)
	}
	f, err := u.svc.GetFile(u.ctx, owner, id)
	if err != nil {
		u.t.Fatal(err)
	}
	if v == transfer.VerdictPending || f.Verdict != v {
		u.t.Fatalf("WaitVerdict gave %s, the file says %s", v, f.Verdict)
	}
	return f
}

func (u *uenv) create(size int) transfer.FileID {
	u.t.Helper()
	id, err := u.up.Create(u.ctx, owner, int64(size), map[string]string{"filename": "report.pdf"})
	if err != nil {
		u.t.Fatalf("create: %v", err)
	}
	return id
}

// write sends data as one chunk at offset and expects it durable.
func (u *uenv) write(up *Pipeline, id transfer.FileID, offset int, data []byte) int {
	u.t.Helper()
	n, err := up.Write(u.ctx, owner, id, int64(offset), newChunk(data).withSum(sum256(data)))
	if err != nil {
		u.t.Fatalf("write %d bytes at %d: %v", len(data), offset, err)
	}
	if n != int64(offset+len(data)) {
		u.t.Fatalf("write at %d: new offset %d, want %d", offset, n, offset+len(data))
	}
	return int(n)
}

func (u *uenv) offset(id transfer.FileID) int64 {
	u.t.Helper()
	info, err := u.up.Info(u.ctx, owner, id)
	if err != nil {
		u.t.Fatalf("info: %v", err)
	}
	return info.Offset
}

func (u *uenv) resumeState(id transfer.FileID) blobstore.ResumeState {
	u.t.Helper()
	up, err := u.svc.GetUpload(u.ctx, owner, id)
	if err != nil {
		u.t.Fatal(err)
	}
	var st blobstore.ResumeState
	if err := st.UnmarshalBinary(up.ResumeState); err != nil {
		u.t.Fatal(err)
	}
	return st
}

// file waits for the verdict of the completed file, returns the file and checks its bytes and
// SHA-256 against data.
func (u *uenv) file(id transfer.FileID, data []byte) (transfer.File, blobstore.Manifest) {
	u.t.Helper()
	f := u.waitVerdict(u.up, id)
	want := sha256.Sum256(data)
	if f.SHA256 != hex.EncodeToString(want[:]) || f.Size != int64(len(data)) {
		u.t.Fatalf("file %d bytes SHA-256 %s, want %d bytes %x", f.Size, f.SHA256, len(data), want)
	}
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(f.Manifest); err != nil {
		u.t.Fatal(err)
	}
	r, err := u.bs.Open(u.ctx, m)
	if err != nil {
		u.t.Fatalf("open: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		u.t.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, data) {
		u.t.Fatalf("read back %d bytes differing from the %d uploaded", len(got), len(data))
	}
	info, err := u.up.Info(u.ctx, owner, id)
	if err != nil || !info.Complete || info.Offset != f.Size {
		u.t.Fatalf("info of a complete upload: %+v, %v", info, err)
	}
	return f, m
}

func TestUploaderUploads(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	for _, tc := range []struct {
		name   string
		size   int
		chunks []int // chunk sizes; the last chunk takes the rest
	}{
		{"one shot", 40 << 10, nil},
		{"many chunks", 50 << 10, []int{1, 255, 256, 257, 511, 4096, 7, 10000, 1 << 10}},
		{"chunk boundaries on stripes", 8 << 10, []int{512, 512, 1024, 2048}},
		{"empty", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(tc.size, uint64(tc.size))
			id := u.create(tc.size)
			off := 0
			for _, n := range tc.chunks {
				off = u.write(u.up, id, off, data[off:off+n])
				if got := u.offset(id); got != int64(off) {
					t.Fatalf("durable offset %d, want %d", got, off)
				}
			}
			if tc.size > 0 {
				u.write(u.up, id, off, data[off:])
			}
			f, _ := u.file(id, data)
			if f.Verdict != transfer.VerdictClean {
				t.Fatalf("verdict %s (%s), want clean", f.Verdict, f.VerdictReason)
			}
			if ev := u.eventFor(id); tc.size > 0 && !ev.Live {
				t.Fatalf("event %+v: want a live verdict for %s", ev, id)
			}
		})
	}
}

func TestUploaderCutThenResume(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(30000, 3)
	id := u.create(len(data))
	off := u.write(u.up, id, 0, data[:1000])

	// A cut without checksum keeps the bytes received.
	n, err := u.up.Write(u.ctx, owner, id, int64(off), newChunk(data[off:]).withCut(7777))
	if !errors.Is(err, errCut) || n != int64(off+7777) {
		t.Fatalf("cut chunk: offset %d, err %v; want %d and the read error", n, err, off+7777)
	}
	if got := u.offset(id); got != n {
		t.Fatalf("durable offset %d after the cut, want %d", got, n)
	}
	// A cut with a checksum cannot be verified: rolled back.
	n2, err := u.up.Write(u.ctx, owner, id, n, newChunk(data[n:]).withSum(sum256(data[n:])).withCut(5000))
	if !errors.Is(err, transfer.ErrChunkIncomplete) || n2 != n {
		t.Fatalf("cut checksummed chunk: offset %d, err %v; want %d and transfer.ErrChunkIncomplete", n2, err, n)
	}
	if got := u.offset(id); got != n {
		t.Fatalf("durable offset %d after the rollback, want %d", got, n)
	}
	u.write(u.up, id, int(n), data[n:])
	f, _ := u.file(id, data)
	if f.Verdict != transfer.VerdictClean {
		t.Fatalf("verdict %s", f.Verdict)
	}
	if u.eventFor(id).Live {
		t.Fatal("the live scan saw rolled-back bytes, yet its verdict was used")
	}
}

func TestUploaderChecksumRollback(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(20000, 4)
	id := u.create(len(data))
	off := u.write(u.up, id, 0, data[:3000])
	before := u.resumeState(id)

	bad := bytes.Clone(data[off : off+5000])
	bad[100] ^= 1 // corrupted on the way: the client's checksum is of the good bytes
	n, err := u.up.Write(u.ctx, owner, id, int64(off), newChunk(bad).withSum(sum256(data[off:off+5000])))
	if !errors.Is(err, transfer.ErrChecksumMismatch) || n != int64(off) {
		t.Fatalf("bad chunk: offset %d, err %v; want %d and transfer.ErrChecksumMismatch", n, err, off)
	}
	if got := u.offset(id); got != int64(off) {
		t.Fatalf("durable offset %d after the rollback, want %d", got, off)
	}
	off = u.write(u.up, id, off, data[off:off+5000])
	after := u.resumeState(id)
	if after.Generation <= before.Generation {
		t.Fatalf("generation %d after the rollback, was %d: a nonce could be reused", after.Generation, before.Generation)
	}
	u.write(u.up, id, off, data[off:])
	f, m := u.file(id, data)
	if len(m.Generations) < 2 {
		t.Fatalf("manifest generations %v: want the rollback's new generation", m.Generations)
	}
	if f.Verdict != transfer.VerdictClean {
		t.Fatalf("verdict %s", f.Verdict)
	}
}

func TestUploaderRestart(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(25000, 5)
	id := u.create(len(data))
	off := u.write(u.up, id, 0, data[:9999])
	n, _ := u.up.Write(u.ctx, owner, id, int64(off), newChunk(data[off:]).withCut(3333))
	off = int(n)
	u.up.Close() // the process stops: its writers are dropped, nothing is removed

	bs2 := openBlobstore(t, u.dirs)
	cfg := transfer.DefaultConfig()
	svc2, err := transfer.New(cfg, transfer.Deps{Store: u.meta, Blobs: transfer.NewStoreBlobs(bs2), Hasher: testHasher{}, Logger: testLogger(t), Now: u.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	up2 := u.newUploader(svc2, bs2)
	u.up = up2
	info, err := up2.Info(u.ctx, owner, id)
	if err != nil || info.Offset != int64(off) {
		t.Fatalf("after restart: %+v, %v; want offset %d", info, err, off)
	}
	u.write(up2, id, off, data[off:])
	f, _ := u.file(id, data)
	if ev := u.eventFor(id); f.Verdict != transfer.VerdictClean || ev.Live {
		t.Fatalf("verdict %s, live %v: want clean from a rescan", f.Verdict, ev.Live)
	}
}

func TestUploaderConcurrentWriteLocked(t *testing.T) {
	u := newUEnv(t, nil)
	data := randomData(4000, 6)
	id := u.create(len(data))
	slow := newChunk(data[:2000])
	slow.inRead, slow.release = make(chan struct{}), make(chan struct{})
	entered := slow.inRead
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := u.up.Write(u.ctx, owner, id, 0, slow)
		done <- result{n, err}
	}()
	<-entered
	if _, err := u.up.Write(u.ctx, owner, id, 0, newChunk(data[:10])); !errors.Is(err, transfer.ErrLocked) {
		t.Errorf("second write: %v, want transfer.ErrLocked", err)
	}
	if err := u.up.Terminate(u.ctx, owner, id); !errors.Is(err, transfer.ErrLocked) {
		t.Errorf("terminate during a write: %v, want transfer.ErrLocked", err)
	}
	if info, err := u.up.Info(u.ctx, owner, id); err != nil || info.Offset != 0 {
		t.Errorf("info during a write: %+v, %v; want offset 0", info, err)
	}
	close(slow.release)
	r := <-done
	if r.err != nil || r.n != 2000 {
		t.Fatalf("first write: %d, %v", r.n, r.err)
	}
	u.write(u.up, id, 2000, data[2000:])
	u.file(id, data)
}

// TestAttackWriteToAnotherUsersUploadLeavesItAlone guards issue 16 item 9: Bob, who learnt
// the ID of Alice's upload, PATCHes it. Write used to lock the upload and take its open writer
// before checking whose upload it was, then close that writer: Alice's live scan was lost
// (and a committed file waiting for its record could no longer be completed), and her
// PATCHes meanwhile got ErrLocked. Bob must get ErrUploadNotFound and touch nothing.
func TestAttackWriteToAnotherUsersUploadLeavesItAlone(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(40000, 16)
	id := u.create(len(data))
	off := u.write(u.up, id, 0, data[:20000])
	u.up.mu.Lock()
	before := u.up.open[id]
	u.up.mu.Unlock()
	if before == nil || before.tee == nil {
		t.Fatal("Alice's writer and live scan are not kept open between her PATCHes")
	}

	// Bob's PATCH, at the right offset and at a wrong one.
	for _, at := range []int64{int64(off), 0} {
		n, err := u.up.Write(u.ctx, "bob", id, at, newChunk(data[off:]))
		if !errors.Is(err, transfer.ErrUploadNotFound) || n != at {
			t.Fatalf("Bob's write at %d: %d, %v; want transfer.ErrUploadNotFound", at, n, err)
		}
	}
	u.up.mu.Lock()
	after := u.up.open[id]
	u.up.mu.Unlock()
	if after != before || after.tee == nil {
		t.Fatal("Bob's write closed Alice's open writer and its live scan")
	}

	// While Alice's PATCH runs, Bob's gets "not found", not "locked": he learns nothing.
	slow := newChunk(data[off:30000])
	slow.inRead, slow.release = make(chan struct{}), make(chan struct{})
	entered := slow.inRead
	done := make(chan error, 1)
	go func() {
		_, err := u.up.Write(u.ctx, owner, id, int64(off), slow)
		done <- err
	}()
	<-entered
	if _, err := u.up.Write(u.ctx, "bob", id, int64(off), newChunk(data[off:])); !errors.Is(err, transfer.ErrUploadNotFound) {
		t.Errorf("Bob's write during Alice's: %v, want transfer.ErrUploadNotFound", err)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatalf("Alice's write: %v", err)
	}
	u.write(u.up, id, 30000, data[30000:])
	f, _ := u.file(id, data)
	if f.Verdict != transfer.VerdictClean || !u.eventFor(id).Live {
		t.Fatalf("verdict %s live %v: want clean from the live scan that followed every byte", f.Verdict, u.eventFor(id).Live)
	}
}

func TestUploaderEICAR(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(30000, 7)
	copy(data[14000:], scan.EICAR())
	for _, tc := range []struct {
		name    string
		restart bool
	}{
		{"in one go", false},
		{"split across a resume", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := u.create(len(data))
			up := u.up
			if tc.restart {
				off := u.write(up, id, 0, data[:14030]) // the signature straddles the resume
				up.Close()
				up = u.newUploader(u.svc, openBlobstore(t, u.dirs))
				u.up = up
				u.write(up, id, off, data[off:])
			} else {
				u.write(up, id, 0, data)
			}
			f := u.waitVerdict(up, id)
			if f.Verdict != transfer.VerdictInfected || !f.Quarantined {
				t.Fatalf("verdict %s quarantined %v: want infected, quarantined", f.Verdict, f.Quarantined)
			}
			ev := u.eventFor(id)
			if !ev.File.Quarantined || !strings.Contains(ev.Signature, "EICAR") || ev.Live == tc.restart {
				t.Fatalf("event %s signature %q live %v", ev.File.ID, ev.Signature, ev.Live)
			}
			// Never served: no send can carry it, so no link can download it.
			_, err := u.svc.CreateSend(u.ctx, owner, sendOf(id))
			if !errors.Is(err, transfer.ErrFileNotSendable) || errors.Is(err, transfer.ErrFileScanning) || transfer.Code(err) != "file_not_sendable" {
				t.Fatalf("send of an infected file: %v (%s), want transfer.ErrFileNotSendable", err, transfer.Code(err))
			}
		})
	}
}

func TestUploaderScannerDownThenRescan(t *testing.T) {
	d := startClamd(t)
	for _, tc := range []struct {
		name string
		down *scan.Client
	}{
		{"clamd down", deadClamd(t)},
		{"no scanner", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUEnv(t, tc.down)
			data := randomData(9000, 8)
			id := u.create(len(data))
			u.write(u.up, id, 0, data)
			f, _ := u.file(id, data)
			if f.Verdict != transfer.VerdictNotScanned || f.VerdictReason != "scanner_down" || f.Verdict.Sendable() {
				t.Fatalf("verdict %s (%s): want not_scanned (scanner_down), held", f.Verdict, f.VerdictReason)
			}
			if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 0 {
				t.Fatalf("rescan while down: %d, %v", n, err)
			}
			u.sc.set(d.Client())
			if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 1 {
				t.Fatalf("rescan: %d, %v; want 1 file", n, err)
			}
			f, _ = u.file(id, data)
			if f.Verdict != transfer.VerdictClean || u.lastEvent().File.Verdict != transfer.VerdictClean {
				t.Fatalf("verdict after rescan %s", f.Verdict)
			}
		})
	}
}

func TestUploaderScanWindows(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client(), func(c *Config) { c.ScanLimit, c.ScanWindow, c.ScanOverlap = 8192, 4096, 512 })
	for _, tc := range []struct {
		name  string
		eicar int // offset of EICAR, < 0: none
		want  transfer.Verdict
	}{
		{"clean", -1, transfer.VerdictCleanWindows},
		{"EICAR across a window boundary", 4096 - 30, transfer.VerdictInfected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(20000, 9)
			if tc.eicar >= 0 {
				copy(data[tc.eicar:], scan.EICAR())
			}
			id := u.create(len(data))
			u.write(u.up, id, 0, data)
			f, _ := u.file(id, data)
			if f.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s", f.Verdict, tc.want)
			}
		})
	}
}

func TestUploaderBadRequests(t *testing.T) {
	u := newUEnv(t, nil)
	data := randomData(3000, 10)
	id := u.create(len(data))
	off := u.write(u.up, id, 0, data[:1000])
	for _, tc := range []struct {
		name   string
		id     transfer.FileID
		offset int64
		chunk  []byte
		want   error
	}{
		{"offset behind", id, 500, data[500:], transfer.ErrOffsetMismatch},
		{"offset ahead", id, 2000, data[2000:], transfer.ErrOffsetMismatch},
		{"past the length", id, int64(off), append(bytes.Clone(data[off:]), 1, 2, 3), transfer.ErrTooLarge},
		{"unknown upload", "0190a4a0-0000-7000-8000-000000000000", 0, data, transfer.ErrUploadNotFound},
		{"not a UUID", "../etc", 0, data, transfer.ErrUploadNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := u.up.Write(u.ctx, owner, tc.id, tc.offset, newChunk(tc.chunk))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.id == id && n != int64(off) {
				t.Fatalf("offset %d returned, want the durable %d", n, off)
			}
			if got := u.offset(id); got != int64(off) {
				t.Fatalf("durable offset moved to %d", got)
			}
		})
	}
	if _, err := u.up.Write(u.ctx, "mallory", id, int64(off), newChunk(data[off:])); !errors.Is(err, transfer.ErrUploadNotFound) {
		t.Fatalf("another owner's write: %v", err)
	}
	st := u.resumeState(id)
	u.write(u.up, id, off, data[off:])
	if _, m := u.file(id, data); m.Size != st.Offset+int64(len(data)-off) {
		t.Fatalf("manifest size %d", m.Size)
	}
	for _, tc := range []struct {
		name string
		size int64
		md   map[string]string
		want error
	}{
		{"too large", u.up.MaxSize(owner) + 1, map[string]string{"filename": "a"}, transfer.ErrTooLarge},
		{"no name", 10, map[string]string{}, transfer.ErrInvalidFileName},
		{"traversal", 10, map[string]string{"filename": "../../etc/passwd"}, transfer.ErrInvalidFileName},
		{"RTL override", 10, map[string]string{"filename": "invoice\u202Efdp.exe"}, transfer.ErrInvalidFileName},
		{"control in metadata", 10, map[string]string{"filename": "a", "x": "a\nb"}, transfer.ErrInvalidMetadata},
		{"traversing folder", 10, map[string]string{"filename": "a", transfer.MetadataRelativePath: "../a"}, transfer.ErrInvalidFileName},
		{"folder of another file", 10, map[string]string{"filename": "a", transfer.MetadataRelativePath: "d/b"}, transfer.ErrInvalidFileName},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			if _, err := u.up.Create(u.ctx, owner, tc.size, tc.md); !errors.Is(err, tc.want) {
				t.Fatalf("create: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUploaderTerminate(t *testing.T) {
	u := newUEnv(t, nil)
	data := randomData(5000, 11)
	for _, tc := range []struct {
		name  string
		evict bool // the writer was closed: Terminate deletes from the resume state
	}{
		{"open writer", false},
		{"after restart", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := u.create(len(data))
			u.write(u.up, id, 0, data[:2345])
			if countFiles(t, u.dirs, id) == 0 {
				t.Fatal("no shard files before terminate")
			}
			if tc.evict {
				u.up.Close()
				u.up = u.newUploader(u.svc, u.bs)
			}
			if err := u.up.Terminate(u.ctx, "mallory", id); !errors.Is(err, transfer.ErrUploadNotFound) {
				t.Fatalf("another owner's terminate: %v", err)
			}
			if err := u.up.Terminate(u.ctx, owner, id); err != nil {
				t.Fatalf("terminate: %v", err)
			}
			if n := countFiles(t, u.dirs, id); n != 0 {
				t.Fatalf("%d files left after terminate", n)
			}
			if _, err := u.up.Info(u.ctx, owner, id); !errors.Is(err, transfer.ErrUploadNotFound) {
				t.Fatalf("info after terminate: %v", err)
			}
			if _, err := u.up.Write(u.ctx, owner, id, 2345, newChunk(data[2345:])); !errors.Is(err, transfer.ErrUploadNotFound) {
				t.Fatalf("write after terminate: %v", err)
			}
		})
	}
}

func TestUploaderCrashBeforeFirstRecord(t *testing.T) {
	u := newUEnv(t, nil)
	// An orphan: the blobstore file was created and written, the process died before the
	// upload record existed.
	orphan := transfer.FileID("0190a4a0-1111-7000-8000-000000000001")
	w, err := u.bs.Create(u.ctx, blobstore.FileID(orphan))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(randomData(3000, 12))
	if _, err := w.Checkpoint(u.ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// An upload whose record exists but holds no resume state yet.
	data := randomData(4000, 13)
	rec, err := u.svc.CreateUpload(u.ctx, owner, "a.bin", int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A live upload with staged data.
	live := u.create(len(data))
	u.write(u.up, live, 0, data[:1500])

	n, err := u.up.CleanOrphans(u.ctx, nil)
	if err != nil || n != 1 {
		t.Fatalf("clean orphans: %d, %v; want 1", n, err)
	}
	if c := countFiles(t, u.dirs, orphan); c != 0 {
		t.Fatalf("%d orphan files left", c)
	}
	if countFiles(t, u.dirs, live) == 0 {
		t.Fatal("the live upload's files were removed")
	}
	u.write(u.up, rec.ID, 0, data)
	u.file(rec.ID, data)
	u.write(u.up, live, 1500, data[1500:])
	u.file(live, data)
}

// upload must not import httpd (the tus adapter lives there and imports upload); TestDeps
// checks the whole import graph, this the package's own imports.
func TestUploaderNoHTTPImport(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "valise/httpd" || strings.HasPrefix(imp, "valise/httpd/") {
			t.Errorf("upload imports %s", imp)
		}
	}
}

func TestUploaderEvictedWritersResume(t *testing.T) {
	u := newUEnv(t, nil, func(c *Config) { c.MaxOpenWriters = 1 })
	a, b := randomData(6000, 14), randomData(7000, 15)
	ida, idb := u.create(len(a)), u.create(len(b))
	offA, offB := 0, 0
	for i := range 3 { // interleaved: each Write closes the other upload's writer
		offA = u.write(u.up, ida, offA, a[offA:offA+1000+i])
		offB = u.write(u.up, idb, offB, b[offB:offB+1500+i])
	}
	u.write(u.up, ida, offA, a[offA:])
	u.write(u.up, idb, offB, b[offB:])
	u.file(ida, a)
	u.file(idb, b)
}

func TestUploaderExpired(t *testing.T) {
	u := newUEnv(t, nil)
	data := randomData(3000, 16)
	id := u.create(len(data))
	u.write(u.up, id, 0, data[:1000])
	u.clock.Advance(transfer.DefaultConfig().UploadTTL + time.Minute)
	if _, err := u.up.Info(u.ctx, owner, id); !errors.Is(err, transfer.ErrUploadExpired) {
		t.Fatalf("info: %v, want transfer.ErrUploadExpired", err)
	}
	if _, err := u.up.Write(u.ctx, owner, id, 1000, newChunk(data[1000:])); !errors.Is(err, transfer.ErrUploadExpired) {
		t.Fatalf("write: %v, want transfer.ErrUploadExpired", err)
	}
	if err := u.up.Terminate(u.ctx, owner, id); err != nil {
		t.Fatalf("terminate an expired upload: %v", err)
	}
	if n := countFiles(t, u.dirs, id); n != 0 {
		t.Fatalf("%d files left", n)
	}
}

func TestUploaderConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"tiny buffer", func(c *Config) { c.BufferSize = 100 }, false},
		{"negative writers", func(c *Config) { c.MaxOpenWriters = -1 }, false},
		{"no persist timeout", func(c *Config) { c.PersistTimeout = 0 }, false},
		{"scan limit past clamd's", func(c *Config) { c.ScanLimit = scan.MaxScannable + 1 }, false},
		{"window past the limit", func(c *Config) { c.ScanLimit, c.ScanWindow = 1000, 2000 }, false},
		{"negative tee", func(c *Config) { c.TeeBuffer = -1 }, false},
		{"no scan worker", func(c *Config) { c.ScanWorkers = 0 }, false},
		{"too many scan workers", func(c *Config) { c.ScanWorkers = 65 }, false},
		{"no live grace", func(c *Config) { c.LiveGrace = 0 }, true},
		{"negative live grace", func(c *Config) { c.LiveGrace = -time.Millisecond }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// failingMeta fails the next n proposals of one audit action, as a lost leadership would.
type failingMeta struct {
	transfer.Metadata
	action string
	n      atomic.Int32
}

func (f *failingMeta) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	if b.Audit.Action == f.action && f.n.Add(-1) >= 0 {
		return raftfsm.Result{}, fmt.Errorf("injected: %w", raftfsm.ErrNotLeader)
	}
	return f.Metadata.Propose(ctx, b)
}

func TestUploaderMetadataFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action string
	}{
		{"progress not recorded", "upload.progress"},
		{"completion not recorded after the commit", "upload.complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fm := &failingMeta{action: tc.action}
			u := &uenv{env: newEnv(t, func(d *transfer.Deps) { fm.Metadata = d.Store; d.Store = fm }), sc: &switchScanner{}}
			u.up = u.newUploader(u.svc, u.bs)
			data := randomData(12000, 17)
			id := u.create(len(data))
			off := u.write(u.up, id, 0, data[:4000])
			end := len(data)
			if tc.action == "upload.progress" {
				end = 9000
			}
			fm.n.Store(1)
			n, err := u.up.Write(u.ctx, owner, id, int64(off), newChunk(data[off:end]))
			if !errors.Is(err, raftfsm.ErrNotLeader) || n != int64(off) {
				t.Fatalf("write: %d, %v; want %d and the metadata error", n, err, off)
			}
			if got := u.offset(id); got != int64(off) {
				t.Fatalf("durable offset %d, want %d", got, off)
			}
			if tc.action == "upload.complete" {
				// The file is committed in the blobstore: a retry must carry the same bytes.
				other := bytes.Clone(data[off:])
				other[len(other)-1] ^= 1
				if n, err := u.up.Write(u.ctx, owner, id, int64(off), newChunk(other)); err == nil || n != int64(off) {
					t.Fatalf("retry with other bytes: %d, %v; want a refusal at %d", n, err, off)
				}
			}
			off = u.write(u.up, id, off, data[off:end])
			if off < len(data) {
				u.write(u.up, id, off, data[off:])
			}
			u.file(id, data)
			if ev := u.eventFor(id); ev.File.Verdict != transfer.VerdictNotScanned {
				t.Fatalf("event for %s: verdict %s, want not_scanned (no scanner)", id, ev.File.Verdict)
			}
		})
	}
}
