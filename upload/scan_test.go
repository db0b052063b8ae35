package upload

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"valise/scan"
	"valise/transfer"
	"valise/userid"
)

// heldClamd is a TCP proxy in front of a real clamd that passes the client's bytes to clamd
// at once but holds clamd's replies until release: a scanner that blocks until the test lets
// it answer.
type heldClamd struct {
	ln       net.Listener
	target   *scan.Client
	released chan struct{}
	once     sync.Once
	accepted chan struct{} // one value per connection relayed to clamd
	wg       sync.WaitGroup

	mu     sync.Mutex // guards conns and closed
	conns  []net.Conn
	closed bool
}

func newHeldClamd(t testing.TB, target *scan.Client) *heldClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &heldClamd{ln: ln, target: target, released: make(chan struct{}), accepted: make(chan struct{}, 64)}
	h.wg.Add(1)
	go h.serve()
	t.Cleanup(h.close)
	return h
}

// client is a client of the proxy.
func (h *heldClamd) client() *scan.Client {
	return &scan.Client{Network: "tcp", Addr: h.ln.Addr().String(), Timeout: 2 * time.Minute} // a hang guard only
}

// release lets clamd's replies through, now and from then on.
func (h *heldClamd) release() { h.once.Do(func() { close(h.released) }) }

// waitAccepted waits (a minute at most) for the next connection to clamd.
func (h *heldClamd) waitAccepted(t testing.TB, what string) {
	t.Helper()
	select {
	case <-h.accepted:
	case <-time.After(time.Minute):
		t.Fatalf("no connection to clamd for %s within a minute", what)
	}
}

func (h *heldClamd) close() {
	h.ln.Close()
	h.release()
	h.mu.Lock()
	h.closed = true
	for _, c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *heldClamd) serve() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.wg.Add(1)
		go h.relay(c)
	}
}

// relay copies c's bytes to clamd, and clamd's reply back once released or until c's client
// goes away.
func (h *heldClamd) relay(c net.Conn) {
	defer h.wg.Done()
	up, err := net.Dial(h.target.Network, h.target.Addr)
	if err != nil {
		c.Close()
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	h.conns = append(h.conns, c, up)
	h.mu.Unlock()
	h.accepted <- struct{}{}
	clientDone := make(chan struct{})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(clientDone)
		io.Copy(up, c)
	}()
	select {
	case <-h.released:
		io.Copy(c, up)
	case <-clientDone:
	}
	c.Close()
	up.Close()
	<-clientDone
}

func sendOf(ids ...transfer.FileID) transfer.SendRequest {
	return transfer.SendRequest{
		From: transfer.Sender{Name: "Alice", Email: "alice@example.org"}, To: []string{"bob@example.org"},
		Subject: "x", FileIDs: ids,
	}
}

// uploadPending uploads data into a new upload through u.up while the scanner is held, and
// returns its ID once the final Write returned. With resume, the first chunk goes without
// a scanner, so the live scan never starts and the file needs a rescan.
func uploadPending(t *testing.T, u *uenv, held *heldClamd, data []byte, resume bool) transfer.FileID {
	t.Helper()
	id := u.create(len(data))
	if resume {
		u.sc.set(nil)
		off := u.write(u.up, id, 0, data[:len(data)/3])
		u.sc.set(held.client())
		u.write(u.up, id, off, data[off:])
	} else {
		u.write(u.up, id, 0, data)
	}
	return id
}

// The final Write returns while clamd has not answered: the file is complete, its verdict
// pending, a send refuses it; once clamd answers, the background scan records the verdict.
func TestUploaderWriteReturnsBeforeVerdict(t *testing.T) {
	d := startClamd(t)
	for _, tc := range []struct {
		name   string
		resume bool // no live scan: rescans from the stored blocks
		files  int
	}{
		{"live scan awaited in the background", false, 1},
		{"rescans from the stored blocks, two workers", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := newHeldClamd(t, d.Client())
			u := newUEnv(t, held.client(), func(c *Config) { c.ScanWorkers = 2 })
			var ids []transfer.FileID
			datas := map[transfer.FileID][]byte{}
			for i := range tc.files {
				data := randomData(30000+i, uint64(21+i))
				id := uploadPending(t, u, held, data, tc.resume)
				ids = append(ids, id)
				datas[id] = data
			}
			if tc.resume {
				held.waitAccepted(t, "a rescan") // a worker is scanning: its reply is held
			}
			for _, id := range ids {
				f, err := u.svc.GetFile(u.ctx, owner, id)
				if err != nil || f.Verdict != transfer.VerdictPending || f.Quarantined {
					t.Fatalf("file after the final Write: verdict %s, %v; want pending", f.Verdict, err)
				}
				if info, err := u.up.Info(u.ctx, owner, id); err != nil || !info.Complete {
					t.Fatalf("info of a pending file: %+v, %v; want complete", info, err)
				}
				if u.hasEvent(id) {
					t.Fatal("OnFinished called before clamd answered")
				}
				// issue 16 item 3: a send of a pending file waits for the antivirus.
				if c, err := u.svc.CreateSend(u.ctx, owner, sendOf(id)); err != nil || c.Send.State != transfer.StatusPendingScan {
					t.Fatalf("send of a pending file: %s, %v; want accepted, waiting for the antivirus", c.Send.State, err)
				}
				ctx, cancel := context.WithCancel(u.ctx)
				cancel()
				if v, err := u.up.WaitVerdict(ctx, owner, id); !errors.Is(err, context.Canceled) {
					t.Fatalf("WaitVerdict on a pending file, context cancelled: %s, %v", v, err)
				}
			}
			held.release()
			for _, id := range ids {
				f, _ := u.file(id, datas[id])
				if f.Verdict != transfer.VerdictClean {
					t.Fatalf("verdict %s (%s), want clean", f.Verdict, f.VerdictReason)
				}
				if ev := u.eventFor(id); ev.Live == tc.resume || ev.File.Verdict != transfer.VerdictClean {
					t.Fatalf("event: verdict %s live %v", ev.File.Verdict, ev.Live)
				}
			}
			if _, err := u.svc.CreateSend(u.ctx, owner, sendOf(ids...)); err != nil {
				t.Fatalf("send once scanned: %v", err)
			}
		})
	}
}

// Close stops the background scans and waits for them; the files stay pending, and the next
// Pipeline queues them again at start and gives them their verdict.
func TestUploaderCloseThenRestartScansPending(t *testing.T) {
	d := startClamd(t)
	for _, tc := range []struct {
		name   string
		resume bool
		files  int
	}{
		{"live scan awaited", false, 1},
		{"one rescan running, one queued", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := newHeldClamd(t, d.Client())
			u := newUEnv(t, held.client()) // one worker
			var ids []transfer.FileID
			datas := map[transfer.FileID][]byte{}
			for i := range tc.files {
				data := randomData(20000+i, uint64(31+i))
				id := uploadPending(t, u, held, data, tc.resume)
				ids = append(ids, id)
				datas[id] = data
			}
			if tc.resume {
				held.waitAccepted(t, "the first rescan")
			}
			if err := u.up.Close(); err != nil {
				t.Fatal(err)
			}
			if n := u.up.running.Load(); n != 0 {
				t.Fatalf("%d background goroutines still running after Close", n)
			}
			for _, id := range ids {
				f, err := u.svc.GetFile(u.ctx, owner, id)
				if err != nil || f.Verdict != transfer.VerdictPending {
					t.Fatalf("after Close: verdict %s, %v; want still pending (a cut scan is no verdict)", f.Verdict, err)
				}
				if u.hasEvent(id) {
					t.Fatal("OnFinished called for a scan cut by Close")
				}
			}

			// The restart: new blobstore and Service over the same disks and metadata, the
			// scanner answering.
			bs2 := openBlobstore(t, u.dirs)
			svc2, err := transfer.New(transfer.DefaultConfig(), transfer.Deps{Store: u.meta, Blobs: transfer.NewStoreBlobs(bs2), Hasher: testHasher{}, Logger: testLogger(t), Now: u.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			u.sc.set(d.Client())
			u.up = u.newUploader(svc2, bs2)
			for _, id := range ids {
				f, _ := u.file(id, datas[id])
				if ev := u.eventFor(id); f.Verdict != transfer.VerdictClean || ev.Live {
					t.Fatalf("after restart: verdict %s, live %v; want clean from a rescan", f.Verdict, ev.Live)
				}
			}
		})
	}
}

// RescanHeld queues the pending files no job follows (left by another node, or a completion
// recorded after its timeout).
func TestUploaderRescanHeldQueuesForgottenPending(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(5000, 41)
	id := u.create(len(data))
	u.write(u.up, id, 0, data)
	f := u.waitVerdict(u.up, id)
	if f.Verdict != transfer.VerdictClean {
		t.Fatalf("verdict %s", f.Verdict)
	}
	// Another node recorded a file pending and stopped: only the metadata knows.
	if err := u.svc.SetVerdict(u.ctx, id, transfer.VerdictPending, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 0 {
		t.Fatalf("RescanHeld: %d, %v; want 0 held files scanned", n, err)
	}
	if f := u.waitVerdict(u.up, id); f.Verdict != transfer.VerdictClean {
		t.Fatalf("verdict %s after the requeue", f.Verdict)
	}
}

func TestUploaderWaitVerdictErrors(t *testing.T) {
	u := newUEnv(t, nil)
	data := randomData(3000, 42)
	id := u.create(len(data))
	for _, tc := range []struct {
		name  string
		owner userid.ID
		id    transfer.FileID
	}{
		{"upload not complete", owner, id},
		{"unknown file", owner, "0190a4a0-0000-7000-8000-000000000009"},
		{"not a UUID", owner, "../x"},
		{"another owner's file", "mallory", id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.owner == "mallory" {
				u.write(u.up, id, 0, data)
				if f := u.waitVerdict(u.up, id); f.Verdict != transfer.VerdictNotScanned {
					t.Fatalf("verdict %s with no scanner", f.Verdict)
				}
			}
			if v, err := u.up.WaitVerdict(u.ctx, tc.owner, tc.id); !errors.Is(err, transfer.ErrFileNotFound) {
				t.Fatalf("WaitVerdict: %s, %v; want transfer.ErrFileNotFound", v, err)
			}
		})
	}
}

// TestUploaderScanPolicies: scan.large_files=not_scanned leaves a file past the scanner's
// stream limit unscanned and lets it be sent, and going back to windows scans it; and
// scan.policy=release lets a file the scanner could not scan be sent (held by default), until
// the scanner, back, gives it a verdict.
func TestUploaderScanPolicies(t *testing.T) {
	d := startClamd(t)
	send := func(u *uenv, id transfer.FileID) error {
		_, err := u.svc.CreateSend(u.ctx, owner, transfer.SendRequest{To: []string{"bob@example.org"}, FileIDs: []transfer.FileID{id}})
		return err
	}
	setPolicy := func(u *uenv, mod func(*transfer.Policy)) {
		p := u.svc.Policy()
		mod(&p)
		if err := u.svc.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("large files not scanned", func(t *testing.T) {
		u := newUEnv(t, d.Client(), func(c *Config) { c.ScanLimit, c.ScanWindow, c.ScanOverlap = 8192, 4096, 512 })
		setPolicy(u, func(p *transfer.Policy) { p.SkipLargeScan = true })
		data := randomData(20000, 21)
		id := u.create(len(data))
		u.write(u.up, id, 0, data)
		if f, _ := u.file(id, data); f.Verdict != transfer.VerdictNotScanned || f.VerdictReason != "too_large" {
			t.Fatalf("verdict %s (%s): want not_scanned (too_large)", f.Verdict, f.VerdictReason)
		}
		small := randomData(2000, 22)
		sid := u.create(len(small))
		u.write(u.up, sid, 0, small)
		if f, _ := u.file(sid, small); f.Verdict != transfer.VerdictClean {
			t.Fatalf("a file within the limit: verdict %s, want clean", f.Verdict)
		}
		if err := send(u, id); err != nil {
			t.Fatalf("send of a large unscanned file under not_scanned: %v", err)
		}
		setPolicy(u, func(p *transfer.Policy) { p.SkipLargeScan = false })
		if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 1 {
			t.Fatalf("rescan after going back to windows: %d, %v; want 1 file", n, err)
		}
		if f, _ := u.file(id, data); f.Verdict != transfer.VerdictCleanWindows {
			t.Fatalf("verdict after the rescan %s, want clean_windows", f.Verdict)
		}
	})
	t.Run("release when the scanner is down", func(t *testing.T) {
		u := newUEnv(t, nil)
		data := randomData(9000, 23)
		id := u.create(len(data))
		u.write(u.up, id, 0, data)
		if f, _ := u.file(id, data); f.Verdict != transfer.VerdictNotScanned || f.VerdictReason != "scanner_down" {
			t.Fatalf("verdict %s (%s): want not_scanned (scanner_down)", f.Verdict, f.VerdictReason)
		}
		if err := send(u, id); !errors.Is(err, transfer.ErrFileNotSendable) {
			t.Fatalf("send under hold: %v, want transfer.ErrFileNotSendable", err)
		}
		setPolicy(u, func(p *transfer.Policy) { p.ReleaseUnscanned = true })
		if err := send(u, id); err != nil {
			t.Fatalf("send under release: %v", err)
		}
		u.sc.set(d.Client())
		if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 1 {
			t.Fatalf("rescan with the scanner back: %d, %v; want 1 file", n, err)
		}
		if f, _ := u.file(id, data); f.Verdict != transfer.VerdictClean {
			t.Fatalf("verdict after the rescan %s, want clean", f.Verdict)
		}
	})
}
