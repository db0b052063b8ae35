//go:build large

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMemoryFloodLarge runs testdata/flood: the flood of issue 16 item 5 (unfinished headers,
// slow uploads and slow downloads, all at once, from several loopback addresses) against the
// real binary, while another user uploads and downloads 256 MiB; the node's anonymous memory
// stays under its budget plus 150 MiB. `go test -tags large -run Large` (no -race).
func TestMemoryFloodLarge(t *testing.T) {
	// The flood holds ~2 500 sockets here and as many in the node, which inherits the limit.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 16384 {
		lim.Cur = min(16384, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("raise RLIMIT_NOFILE: %v", err)
		}
	}
	if lim.Cur < 8192 {
		t.Fatalf("RLIMIT_NOFILE is %d (hard limit %d); the flood needs 8192", lim.Cur, lim.Max)
	}
	p := scriptParams()
	p.Dir = "testdata/flood"
	p.Cmds["flood"] = cmdFlood
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		h := &floodHolder{}
		env.Values[floodKey{}] = h
		env.Defer(func() {
			if h.f != nil {
				h.f.end()
			}
		})
		return setup(env)
	}
	testscript.Run(t, p)
}

// floodKey is the testscript value holding a script's *floodHolder.
type floodKey struct{}

// floodHolder holds a script's flood once started.
type floodHolder struct{ f *flood }

// flood is the attack running in the background, and the sampler of the node's memory.
type flood struct {
	cancel  context.CancelFunc // ends the attack
	wg      sync.WaitGroup     // the attackers
	sampler sync.WaitGroup
	once    sync.Once
	stop    chan struct{} // closed by end: ends the sampler
	peakKiB atomic.Int64  // highest RssAnon seen
	baseKiB int64         // RssAnon when the flood started
	start   time.Time

	held                    atomic.Int64 // header connections open now
	heldPeak                atomic.Int64
	upOK, upBusy, upOther   atomic.Int64 // PATCH answers
	dlOK, dlBusy, dlOther   atomic.Int64 // GET answers
	upBytes, dlBytes        atomic.Int64
	headerDials, headerCuts atomic.Int64

	errMu  sync.Mutex     // guards errors
	errors map[string]int // the attackers' other outcomes, by kind, for the log
}

// other counts an outcome that is neither served nor 503.
func (f *flood) other(kind string, err error, status int) {
	what := kind + ": " + strconv.Itoa(status)
	if err != nil {
		what = kind + ": " + err.Error()
		if i := strings.LastIndex(what, ": "); i > len(kind) {
			what = kind + ":" + what[i+1:] // the cause, without the URL
		}
	}
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.errors == nil {
		f.errors = map[string]int{}
	}
	f.errors[what]++
}

// flood start [-headers N] [-uploads N] [-downloads N] [-rate B] [-for D] TOKEN DOWNLOADURL DATA:
// starts, in the background, N connections that send an unfinished header, N tus uploads of
// TOKEN's sending -rate bytes a second, N downloads of DOWNLOADURL reading -rate bytes a
// second, each kind from its own 8 loopback addresses (127.0.0.10-17, 20-27, 30-37), for -for
// at most; and a sampler of the RssAnon of the node serving DATA.
// flood stop MAXMIB: ends the flood, logs what it did, and fails when the node's RssAnon went
// to MAXMIB MiB or above while it ran.
func cmdFlood(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: flood start|stop ...")
	}
	switch args[0] {
	case "start":
		floodStart(ts, args[1:])
	case "stop":
		floodStop(ts, args[1:])
	default:
		ts.Fatalf("usage: flood start|stop ...")
	}
}

func floodStart(ts *testscript.TestScript, args []string) {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	headers := fs.Int("headers", 2000, "connections holding an unfinished header")
	uploads := fs.Int("uploads", 200, "slow uploads")
	downloads := fs.Int("downloads", 200, "slow downloads")
	rate := fs.Int("rate", 10<<10, "bytes per second of each slow transfer")
	dur := fs.Duration("for", time.Minute, "how long the flood lasts at most")
	ts.Check(fs.Parse(args))
	rest := fs.Args()
	if len(rest) != 3 {
		ts.Fatalf("usage: flood start [flags] TOKEN DOWNLOADURL DATA")
	}
	token, dlURL := rest[0], expandBraces(ts, rest[1])
	b, err := os.ReadFile(filepath.Join(ts.MkAbs(rest[2]), "serve.lock"))
	ts.Check(err)
	pid := strings.TrimSpace(string(b))
	pem, err := os.ReadFile(ts.Getenv("CAFILE"))
	ts.Check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	base := baseURL(ts)
	host := strings.TrimPrefix(base, "https://")

	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	f := &flood{cancel: cancel, stop: make(chan struct{}), start: time.Now()}
	f.baseKiB, _ = rssAnonKiB(pid)
	ts.Value(floodKey{}).(*floodHolder).f = f

	f.sampler.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if kib, ok := rssAnonKiB(pid); ok && kib > f.peakKiB.Load() {
				f.peakKiB.Store(kib)
			}
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	})
	addr := func(block, i int) string { return fmt.Sprintf("127.0.0.%d", block+i%8) }
	for i := range *headers {
		f.wg.Go(func() { f.holdHeader(ctx, addr(10, i), host, tlsCfg) })
	}
	for i := range *uploads {
		f.wg.Go(func() { f.slowUpload(ctx, clientFrom(addr(20, i), tlsCfg), base, token, *rate) })
	}
	for i := range *downloads {
		f.wg.Go(func() { f.slowDownload(ctx, clientFrom(addr(30, i), tlsCfg), dlURL, *rate) })
	}
	ts.Logf("flood started: %d header connections, %d slow uploads, %d slow downloads at %d B/s, for %v at most", *headers, *uploads, *downloads, *rate, *dur)
}

// end stops the attack and the sampler, once.
func (f *flood) end() {
	f.once.Do(func() {
		f.cancel()
		f.wg.Wait()
		close(f.stop)
		f.sampler.Wait()
	})
}

func floodStop(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: flood stop MAXMIB")
	}
	maxMiB, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	f := ts.Value(floodKey{}).(*floodHolder).f
	if f == nil {
		ts.Fatalf("flood stop without flood start")
	}
	f.end()
	peak := f.peakKiB.Load() >> 10
	ts.Logf("flood over after %v: header connections: %d dials, %d cut by the server, %d held at most",
		time.Since(f.start).Round(time.Second), f.headerDials.Load(), f.headerCuts.Load(), f.heldPeak.Load())
	ts.Logf("slow uploads: %d PATCH ended, %d answered 503, %d other, %d KiB sent", f.upOK.Load(), f.upBusy.Load(), f.upOther.Load(), f.upBytes.Load()>>10)
	ts.Logf("slow downloads: %d served, %d answered 503, %d other, %d KiB read", f.dlOK.Load(), f.dlBusy.Load(), f.dlOther.Load(), f.dlBytes.Load()>>10)
	f.errMu.Lock()
	for what, n := range f.errors {
		ts.Logf("  %d × %s", n, what)
	}
	f.errMu.Unlock()
	ts.Logf("node peak RssAnon %d MiB (bound %d MiB), %d MiB before the flood", peak, maxMiB, f.baseKiB>>10)
	fmt.Fprintf(ts.Stdout(), "peak-rssanon-mib: %d\n", peak)
	if f.peakKiB.Load() == 0 {
		ts.Fatalf("no RssAnon sample of the node")
	}
	if peak >= maxMiB {
		ts.Fatalf("node peak RssAnon %d MiB, want < %d MiB", peak, maxMiB)
	}
}

// rssAnonKiB reads RssAnon from /proc/PID/status.
func rssAnonKiB(pid string) (int64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// clientFrom is an HTTPS client whose connections leave from the loopback address src.
func clientFrom(src string, cfg *tls.Config) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: cfg, DisableCompression: true,
		MaxConnsPerHost: 4, ResponseHeaderTimeout: 2 * time.Minute,
	}}
}

// pause waits d or until ctx ends; false when ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// holdHeader keeps a connection from src that sends part of a header and then nothing,
// dialling again (after a second) whenever the server closes it.
func (f *flood) holdHeader(ctx context.Context, src, host string, cfg *tls.Config) {
	partial := "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 8<<10)
	for ctx.Err() == nil {
		f.headerDials.Add(1)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", host, cfg)
		if err == nil {
			if _, err = io.WriteString(c, partial); err == nil {
				n := f.held.Add(1)
				for p := f.heldPeak.Load(); n > p && !f.heldPeak.CompareAndSwap(p, n); p = f.heldPeak.Load() {
				}
				stop := context.AfterFunc(ctx, func() { c.Close() })
				_, _ = io.Copy(io.Discard, c) // until the server (or the end) closes it
				stop()
				f.held.Add(-1)
				if ctx.Err() == nil {
					f.headerCuts.Add(1)
				}
			}
			c.Close()
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}

// trickle is a body of n bytes sent at rate bytes a second, ending early when ctx does.
type trickle struct {
	ctx  context.Context
	left int64
	rate int
	tick *time.Ticker
	sent *atomic.Int64
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	select {
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	case <-r.tick.C:
	}
	n := int64(min(len(p), max(1, r.rate/10)))
	n = min(n, r.left)
	for i := range p[:n] {
		p[i] = byte(i)
	}
	r.left -= n
	r.sent.Add(n)
	return int(n), nil
}

// slowUpload creates an upload and PATCHes it at rate bytes a second until ctx ends, asking
// again after a 503.
func (f *flood) slowUpload(ctx context.Context, hc *http.Client, base, token string, rate int) {
	defer hc.CloseIdleConnections()
	const size = 64 << 20
	do := func(method, url string, hdr map[string]string, body io.Reader, n int64) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if body != nil {
			req.ContentLength = n
			req.Header.Set("Content-Type", "application/offset+octet-stream")
		}
		return hc.Do(req)
	}
	var url string
	for ctx.Err() == nil && url == "" {
		resp, err := do(http.MethodPost, base+"/api/v1/uploads", map[string]string{
			"Upload-Length": strconv.Itoa(size), "Upload-Metadata": "filename " + base64.StdEncoding.EncodeToString([]byte("slow.bin")),
		}, nil, 0)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				url = base + resp.Header.Get("Location")
				break
			}
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		resp, err := do(http.MethodHead, url, nil, nil, 0)
		if err != nil {
			pause(ctx, time.Second)
			continue
		}
		resp.Body.Close()
		off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		body := &trickle{ctx: ctx, left: size - off, rate: rate, tick: tick, sent: &f.upBytes}
		resp, err = do(http.MethodPatch, url, map[string]string{"Upload-Offset": strconv.FormatInt(off, 10)}, body, size-off)
		switch {
		case err != nil:
			f.upOther.Add(1)
			f.other("upload", err, 0)
		case resp.StatusCode == http.StatusServiceUnavailable:
			f.upBusy.Add(1)
		case resp.StatusCode == http.StatusNoContent:
			f.upOK.Add(1)
		default:
			f.upOther.Add(1)
			f.other("upload", nil, resp.StatusCode)
		}
		if err == nil {
			resp.Body.Close()
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}

// slowDownload GETs url and reads it at rate bytes a second until ctx ends, asking again
// after a 503 or the end of the file.
func (f *flood) slowDownload(ctx context.Context, hc *http.Client, url string, rate int) {
	defer hc.CloseIdleConnections()
	buf := make([]byte, max(1, rate/10))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		resp, err := hc.Do(req)
		switch {
		case err != nil:
			f.dlOther.Add(1)
			f.other("download", err, 0)
		case resp.StatusCode == http.StatusServiceUnavailable:
			f.dlBusy.Add(1)
		case resp.StatusCode == http.StatusOK:
			f.dlOK.Add(1)
			for ctx.Err() == nil {
				n, err := io.ReadFull(resp.Body, buf)
				f.dlBytes.Add(int64(n))
				if err != nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		default:
			f.dlOther.Add(1)
			f.other("download", nil, resp.StatusCode)
		}
		if err == nil {
			resp.Body.Close()
		}
		if !pause(ctx, time.Second) {
			return
		}
	}
}
