package upload

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/raftfsm"
	"valise/scan"
	"valise/transfer"
)

// poison marks the file a poisonClamd always fails on.
var poison = []byte("valise-test: a file whose scan always fails")

// poisonClamd is a clamd in front of a real one that fails every scan of a stream holding
// poison: it answers an ERROR line, as a clamd that cannot scan one file does (clamd was
// reached: this is no "scanner down"). Other streams are scanned by the real clamd and its
// verdict answered as clamd would.
type poisonClamd struct {
	ln     net.Listener
	target *scan.Client
	wg     sync.WaitGroup
}

func newPoisonClamd(t testing.TB, target *scan.Client) *poisonClamd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &poisonClamd{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				p.answer(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// answer reads one INSTREAM command and answers it.
func (p *poisonClamd) answer(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Minute)) // a hang guard only
	cmd := make([]byte, len("zINSTREAM\x00"))
	if _, err := io.ReadFull(c, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
		return
	}
	var stream bytes.Buffer
	for {
		var n uint32
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(&stream, c, int64(n)); err != nil {
			return
		}
	}
	reply := "stream: Can't scan this file ERROR"
	if !bytes.Contains(stream.Bytes(), poison) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		v, err := p.target.Scan(ctx, &stream)
		cancel()
		switch {
		case err != nil:
		case v.Kind == scan.KindClean:
			reply = "stream: OK"
		case v.Kind == scan.KindInfected:
			reply = "stream: " + v.Signature + " FOUND"
		}
	}
	c.Write([]byte(reply + "\x00"))
}

// poisonScanner is the uenv's Scanner with Client overridden: a client of a poisonClamd in
// front of the clamd the embedded Scanner gives, saying what that one says of its signatures.
// With no clamd behind it, it gives none either.
type poisonScanner struct {
	Scanner
	t testing.TB

	mu   sync.Mutex // guards p
	p    *poisonClamd
	last *scan.Client
}

func (s *poisonScanner) Client() *scan.Client {
	real := s.Scanner.Client()
	if real == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || s.last != real {
		s.p, s.last = newPoisonClamd(s.t, real), real
	}
	return &scan.Client{Network: "tcp", Addr: s.p.ln.Addr().String(), Timeout: 2 * time.Minute, TestSignaturesOnly: real.TestSignaturesOnly} // a hang guard only
}

// newPoisonUEnv is a uenv whose Pipeline scans through a poisonScanner over u.sc.
func newPoisonUEnv(t *testing.T, c *scan.Client) *uenv {
	t.Helper()
	u := &uenv{env: newEnv(t), sc: &switchScanner{c: c}}
	up, err := New(DefaultConfig(), u.svc, u.bs, &poisonScanner{Scanner: u.sc, t: t}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	u.up = up
	return u
}

// poisoned returns n random bytes holding poison.
func poisoned(n int, seed uint64) []byte {
	b := randomData(n, seed)
	copy(b[n/2:], poison)
	return b
}

func setPolicy(t *testing.T, svc *transfer.Service, mod func(*transfer.Policy)) {
	t.Helper()
	p := svc.Policy()
	mod(&p)
	if err := svc.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
}

// journalDetails returns the details of the journal entries of action on target, in order.
func journalDetails(t *testing.T, meta *raftfsm.Store, action, target string) []string {
	t.Helper()
	var out []string
	err := meta.Journal(1, func(en raftfsm.Entry) error {
		if en.Action == action && en.Target == target {
			out = append(out, string(en.Details))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScanErrorIsNeverReleased guards issue 16 item 7: a scan that reached clamd but failed
// was recorded as "scanner down", which scan.policy=release lets flow unscanned. It must get
// its own reason, scan_error, that no policy releases.
func TestScanErrorIsNeverReleased(t *testing.T) {
	d := startClamd(t)
	u := newPoisonUEnv(t, d.Client())
	setPolicy(t, u.svc, func(p *transfer.Policy) { p.ReleaseUnscanned, p.SkipLargeScan = true, true })

	bad := poisoned(30000, 1)
	id := u.create(len(bad))
	u.write(u.up, id, 0, bad)
	f := u.waitVerdict(u.up, id)
	if f.Verdict != transfer.VerdictNotScanned || f.VerdictReason != scan.ReasonScanError.Code() {
		t.Fatalf("a file whose scan fails: %s (%s), want not_scanned (scan_error)", f.Verdict, f.VerdictReason)
	}
	if _, err := u.svc.CreateSend(u.ctx, owner, sendOf(id)); !errors.Is(err, transfer.ErrFileNotSendable) {
		t.Fatalf("send of a file whose scan failed, under release: %v, want transfer.ErrFileNotSendable", err)
	}

	good := randomData(30000, 2) // the same scanner scans other files
	gid := u.create(len(good))
	u.write(u.up, gid, 0, good)
	if f := u.waitVerdict(u.up, gid); f.Verdict != transfer.VerdictClean {
		t.Fatalf("another file: %s (%s), want clean", f.Verdict, f.VerdictReason)
	}
}

// TestRescanHeldGoesOnPastAFileThatAlwaysFails guards issue 16 item 7: RescanHeld stopped at
// the first file the scanner could not scan, so one file whose scan always fails kept every
// file after it held for ever. It must record that file's scan error and go on; and a scan
// that fails the same way again records nothing new.
func TestRescanHeldGoesOnPastAFileThatAlwaysFails(t *testing.T) {
	d := startClamd(t)
	u := newPoisonUEnv(t, nil) // no scanner: every upload is held
	var ids []transfer.FileID
	for i, data := range [][]byte{poisoned(20000, 3), randomData(20000, 4), randomData(20000, 5)} {
		id := u.create(len(data))
		u.write(u.up, id, 0, data)
		if f := u.waitVerdict(u.up, id); f.Verdict != transfer.VerdictNotScanned || f.VerdictReason != scan.ReasonScannerDown.Code() {
			t.Fatalf("file %d with no scanner: %s (%s), want not_scanned (scanner_down)", i, f.Verdict, f.VerdictReason)
		}
		ids = append(ids, id)
	}

	u.sc.set(d.Client()) // the scanner is back
	n, err := u.up.RescanHeld(u.ctx)
	if err != nil || n != 3 {
		t.Fatalf("RescanHeld = %d, %v; want 3 new verdicts", n, err)
	}
	for i, id := range ids {
		f, err := u.svc.GetFile(u.ctx, owner, id)
		if err != nil {
			t.Fatal(err)
		}
		want, reason := transfer.VerdictClean, transfer.ReasonTestSignaturesOnly
		if i == 0 {
			want, reason = transfer.VerdictNotScanned, scan.ReasonScanError.Code()
		}
		if f.Verdict != want || f.VerdictReason != reason {
			t.Errorf("file %d after RescanHeld: %s (%s), want %s (%s)", i, f.Verdict, f.VerdictReason, want, reason)
		}
	}

	before := len(journalDetails(t, u.meta, "file.scan", string(ids[0])))
	if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 0 {
		t.Fatalf("second RescanHeld = %d, %v; want 0 (the same scan error again)", n, err)
	}
	if after := len(journalDetails(t, u.meta, "file.scan", string(ids[0]))); after != before {
		t.Fatalf("the same scan error journalled again: %d entries, then %d", before, after)
	}
}

// TestCleanVerdictOfTestSignaturesSaysSo guards issue 16 item 7: with only the built-in test
// signatures (an offline node's default), an ordinary file was recorded plain "clean". Its
// verdict must say that only test signatures checked it, in the file, the send and the
// journal; the policy decides whether it may be sent (allowed by default); and once real
// signatures are loaded RescanHeld gives it a real verdict.
func TestCleanVerdictOfTestSignaturesSaysSo(t *testing.T) {
	d := startClamd(t)
	u := newUEnv(t, d.Client())
	data := randomData(30000, 6)
	id := u.create(len(data))
	u.write(u.up, id, 0, data)
	f, _ := u.file(id, data)
	if f.Verdict != transfer.VerdictClean || f.VerdictReason != transfer.ReasonTestSignaturesOnly || !transfer.CheckedTestSignaturesOnly(f.Verdict, f.VerdictReason) {
		t.Fatalf("verdict %s (%s), want clean (%s)", f.Verdict, f.VerdictReason, transfer.ReasonTestSignaturesOnly)
	}
	var journalled bool
	err := u.meta.Journal(1, func(en raftfsm.Entry) error {
		journalled = journalled || en.Target == string(id) && strings.Contains(string(en.Details), transfer.ReasonTestSignaturesOnly)
		return nil
	})
	if err != nil || !journalled {
		t.Fatalf("the journal does not say the verdict came from test signatures only (%v)", err)
	}

	setPolicy(t, u.svc, func(p *transfer.Policy) { p.HoldTestSignaturesOnly = true })
	if _, err := u.svc.CreateSend(u.ctx, owner, sendOf(id)); !errors.Is(err, transfer.ErrFileNotSendable) {
		t.Fatalf("send under scan.test_signatures_only=hold: %v, want transfer.ErrFileNotSendable", err)
	}
	setPolicy(t, u.svc, func(p *transfer.Policy) { p.HoldTestSignaturesOnly = false })
	sent, err := u.svc.CreateSend(u.ctx, owner, sendOf(id))
	if err != nil {
		t.Fatalf("send under scan.test_signatures_only=allow: %v", err)
	}
	if sf := sent.Send.Files[0]; sf.Verdict != transfer.VerdictClean || sf.VerdictReason != transfer.ReasonTestSignaturesOnly {
		t.Fatalf("the send's file says %s (%s)", sf.Verdict, sf.VerdictReason)
	}

	// RescanHeld leaves it alone while the scanner still has test signatures only...
	if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 0 {
		t.Fatalf("RescanHeld with test signatures only: %d, %v; want 0", n, err)
	}
	// ...and gives it a real verdict once real ones are loaded (the same clamd, told so).
	setPolicy(t, u.svc, func(p *transfer.Policy) { p.HoldTestSignaturesOnly = true })
	real := *d.Client()
	real.TestSignaturesOnly = false
	u.sc.set(&real)
	if n, err := u.up.RescanHeld(u.ctx); err != nil || n != 1 {
		t.Fatalf("RescanHeld with real signatures: %d, %v; want 1", n, err)
	}
	if f, err := u.svc.GetFile(u.ctx, owner, id); err != nil || f.Verdict != transfer.VerdictClean || f.VerdictReason != "" {
		t.Fatalf("after a scan with real signatures: %s (%s), %v; want plain clean", f.Verdict, f.VerdictReason, err)
	}
	if _, err := u.svc.CreateSend(u.ctx, owner, sendOf(id)); err != nil {
		t.Fatalf("send once checked with real signatures, under hold: %v", err)
	}
}
