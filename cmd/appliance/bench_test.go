package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/adminapi"
	"valise/internal/poll"
)

// benchBlock is a repeated random block: incompressible per block (zstd stores it raw), and
// cheap to generate, so the client is never the bottleneck.
type benchReader struct {
	block []byte
	left  int64
	pos   int
	end   time.Time // when the last byte was read
}

func newBenchReader(size int64) *benchReader {
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	return &benchReader{block: b, left: size}
}

func (r *benchReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.block[r.pos:])
		n += m
		r.pos = (r.pos + m) % len(r.block)
	}
	r.left -= int64(n)
	if r.left == 0 {
		r.end = time.Now()
	}
	return n, nil
}

// benchUploadSize is VALISE_BENCH_UPLOAD_SIZE (K, M, G suffixes), 1 GiB by default.
func benchUploadSize(b *testing.B) int64 {
	v := os.Getenv("VALISE_BENCH_UPLOAD_SIZE")
	if v == "" {
		return 1 << 30
	}
	n, err := parseSize(v)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkSendHTTPS measures, against the real binary on loopback, one tus upload (a single
// PATCH: hashed, encrypted, erasure-coded 4+2 on 6 disk directories, fsync'd, committed
// through Raft, scanned by the node's clamd) and one download through a link with its shard
// files evicted from the page cache (cold: `dd iflag=nocache count=0` on each shard file,
// after sync), beside the same run's baselines over the same TLS stack (fasthttp with the
// node's 256 KiB buffers, crypto/tls, the same Go client): a TLS upload that is discarded and
// an HTTPS GET of a file in the page cache. It reports MB/s, the ratios docs/performance.md sets
// targets for (upload ≥ 70 %, download ≥ 80 %), and the node's peak RSS.
func BenchmarkSendHTTPS(b *testing.B) {
	size := benchUploadSize(b)
	dir, err := os.MkdirTemp("", "vbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "a.sock")
	bin := filepath.Join(binDir, "appliance")
	out, err := exec.Command(bin, "init", "--data", data, "--disks", "6", "--listen", "127.0.0.1:0",
		"--cluster-listen", "127.0.0.1:0", "--admin-socket", sock).CombinedOutput()
	if err != nil {
		b.Fatalf("init: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	serve := exec.Command(bin, "serve", "--data", data)
	serve.Stderr = logf
	if err := serve.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	}()
	ctx := context.Background()
	ac := adminapi.NewClient(sock)
	defer ac.Close()
	var st adminapi.Status
	if err := poll.Within(time.Minute, func() error {
		st, err = ac.Status(ctx)
		if err == nil && st.Raft.State != "Leader" {
			err = fmt.Errorf("raft %s", st.Raft.State)
		}
		return err
	}); err != nil {
		b.Fatalf("node not ready: %v", err)
	}
	if !st.Scanner.Running {
		b.Logf("warning: the scanner is not running (%s): the upload is measured without a scan", st.Scanner.Reason)
	}
	if _, err := ac.AddUser(ctx, adminapi.UserAddRequest{Email: "bench@example.org", Lang: "en"}); err != nil {
		b.Fatal(err)
	}
	tok, err := ac.CreateToken(ctx, adminapi.TokenCreateRequest{Email: "bench@example.org"})
	if err != nil {
		b.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "keys", "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	base := "https://" + st.Node.Addresses.HTTPS

	// The baseline server: the same stack as the node's, without the byte path.
	bl := startBaseline(b, filepath.Join(dir, "cached.bin"), size)
	defer bl.close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pool.AddCert(bl.cert)
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10,
	}}
	defer hc.CloseIdleConnections()

	mbps := func(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }
	for b.Loop() {
		// Upload: tus POST, then one PATCH of the whole file.
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/uploads", nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("bench.bin")))
		resp := mustDo(b, hc, req, http.StatusCreated)
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, "/") {
			loc = base + loc
		}
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		syncDisks()
		body := newBenchReader(size)
		req, _ = http.NewRequest(http.MethodPatch, loc, body)
		req.ContentLength = size
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		stopPerf := startPerf(b, "upload")
		start := time.Now()
		mustDo(b, hc, req, http.StatusNoContent)
		upT := time.Since(start)
		tailT := time.Since(body.end) // from the last byte sent to the answer: the commit
		stopPerf()
		verdictStart := start

		// The verdict: the scan that followed the stream answers soon after the last byte;
		// a rescan from the stored blocks takes longer.
		var verdict []string
		if err := poll.Within(30*time.Minute, func() error {
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/files/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+tok.Token)
			resp := mustDo(b, hc, req, http.StatusOK)
			verdict = regexp.MustCompile(`"verdict":"([a-z_]+)"`).FindStringSubmatch(resp.body)
			if len(verdict) != 2 || verdict[1] == "pending" {
				return fmt.Errorf("verdict %v", verdict)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		verdictT := time.Since(verdictStart) // from the PATCH's start

		syncDisks()
		req, _ = http.NewRequest(http.MethodPut, bl.url+"/discard", newBenchReader(size))
		req.ContentLength = size
		start = time.Now()
		mustDo(b, hc, req, http.StatusNoContent)
		discardT := time.Since(start)

		// Download: a send, its link from the outbox, the shard files evicted.
		send := fmt.Sprintf(`{"to":["r@example.org"],"files":[%q]}`, id)
		req, _ = http.NewRequest(http.MethodPost, base+"/api/v1/sends", strings.NewReader(send))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		mustDo(b, hc, req, http.StatusCreated)
		ob, err := ac.Outbox(ctx)
		if err != nil || len(ob.Mails) == 0 {
			b.Fatalf("outbox: %v", err)
		}
		link := linkRE.FindString(ob.Mails[len(ob.Mails)-1].Text)
		evicted := evictShards(b, data)
		req, _ = http.NewRequest(http.MethodGet, link+"/files/"+id, nil)
		stopPerf = startPerf(b, "download")
		start = time.Now()
		n := mustCopy(b, hc, req)
		downT := time.Since(start)
		stopPerf()
		if n != size {
			b.Fatalf("downloaded %d bytes, want %d", n, size)
		}

		req, _ = http.NewRequest(http.MethodGet, bl.url+"/cached", nil)
		mustCopy(b, hc, req) // warm the page cache and the connection
		req, _ = http.NewRequest(http.MethodGet, bl.url+"/cached", nil)
		start = time.Now()
		mustCopy(b, hc, req)
		getT := time.Since(start)

		up, disc, down, get := mbps(size, upT), mbps(size, discardT), mbps(size, downT), mbps(size, getT)
		b.ReportMetric(up, "upload-MB/s")
		b.ReportMetric(disc, "discard-MB/s")
		b.ReportMetric(100*up/disc, "upload-%")
		b.ReportMetric(mbps(size, verdictT), "upload+verdict-MB/s")
		b.ReportMetric(tailT.Seconds(), "upload-commit-s")
		b.ReportMetric(down, "download-MB/s")
		b.ReportMetric(get, "cached-get-MB/s")
		b.ReportMetric(100*down/get, "download-%")
		v := "?"
		if len(verdict) == 2 {
			v = verdict[1]
		}
		fmt.Printf("send-https: %d MiB, scan %s (verdict %s)\n", size>>20, map[bool]string{true: "on", false: "OFF"}[st.Scanner.Running], v)
		fmt.Printf("  tus upload (1 PATCH)    %8.1f MB/s   plain TLS discard %8.1f MB/s   ratio %5.1f %% (target >= 70 %%)\n", up, disc, 100*up/disc)
		fmt.Printf("    of which after the last byte sent (commit: fsync, Raft) %.2f s of %.2f s\n", tailT.Seconds(), upT.Seconds())
		fmt.Printf("  upload to verdict       %8.1f MB/s   (%.1f s from the PATCH's start to the verdict)\n", mbps(size, verdictT), verdictT.Seconds())
		fmt.Printf("  link download (cold)    %8.1f MB/s   cached HTTPS GET  %8.1f MB/s   ratio %5.1f %% (target >= 80 %%)\n", down, get, 100*down/get)
		fmt.Printf("  cold: %d shard files evicted with posix_fadvise DONTNEED (dd iflag=nocache count=0) after sync\n", evicted)
	}
	b.StopTimer()
	if rss, err := peakRSS(serve.Process.Pid); err == nil {
		b.ReportMetric(float64(rss), "node-peak-RSS-MiB")
		fmt.Printf("  node peak RSS (VmHWM)   %d MiB (target < 200 MiB)\n", rss)
	}
}

type benchResp struct {
	*http.Response
	body string
}

func mustDo(b *testing.B, hc *http.Client, req *http.Request, want int) benchResp {
	b.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %s, want %d: %s", req.Method, req.URL, resp.Status, want, body)
	}
	return benchResp{resp, string(body)}
}

func mustCopy(b *testing.B, hc *http.Client, req *http.Request) int64 {
	b.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", req.URL, resp.Status)
	}
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func syncDisks() { syscall.Sync() }

// startPerf profiles the whole machine (every process: the node, clamd, this client) with
// `perf record -a -g` into $VALISE_BENCH_PERF/name.perf while a transfer runs, when
// VALISE_BENCH_PERF names a directory; the returned function stops it. Read the result with
// `perf report -i FILE --sort comm,dso,sym`.
func startPerf(b *testing.B, name string) func() {
	dir := os.Getenv("VALISE_BENCH_PERF")
	if dir == "" {
		return func() {}
	}
	cmd := exec.Command("perf", "record", "-q", "-a", "-g", "-F", "499", "-o", filepath.Join(dir, name+".perf"))
	if err := cmd.Start(); err != nil {
		b.Logf("perf: %v", err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // perf attaches before the transfer starts
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

// evictShards drops the node's shard files from the page cache (after sync, so no page is
// dirty), as `dd if=FILE iflag=nocache count=0` does, and returns how many it evicted.
func evictShards(b *testing.B, data string) int {
	syscall.Sync()
	files, _ := filepath.Glob(filepath.Join(data, "disks", "*", "shards", "*", "*"))
	n := 0
	for _, f := range files {
		if out, err := exec.Command("dd", "if="+f, "iflag=nocache", "count=0", "status=none").CombinedOutput(); err != nil {
			b.Logf("evict %s: %v %s", f, err, out)
			continue
		}
		n++
	}
	return n
}

// peakRSS reads VmHWM of pid, in MiB.
func peakRSS(pid int) (int64, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb >> 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for %d", pid)
}

// baseline is a fasthttp TLS server configured like the node's (256 KiB buffers, streamed
// bodies, TLS 1.2+, http/1.1) that discards uploads and serves one cached file.
type baseline struct {
	srv  *fasthttp.Server
	ln   net.Listener
	done chan struct{}
	url  string
	cert *x509.Certificate
}

func startBaseline(b *testing.B, cachedPath string, size int64) *baseline {
	f, err := os.Create(cachedPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, newBenchReader(size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "baseline"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ln := tls.NewListener(tcp, &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	bl := &baseline{ln: ln, done: make(chan struct{}), url: "https://" + tcp.Addr().String(), cert: leaf}
	bl.srv = &fasthttp.Server{
		StreamRequestBody: true, ReadBufferSize: 256 << 10, WriteBufferSize: 256 << 10,
		ReadTimeout: 5 * time.Minute, WriteTimeout: 5 * time.Minute,
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch string(ctx.Path()) {
			case "/discard":
				buf := make([]byte, 256<<10)
				_, _ = io.CopyBuffer(io.Discard, ctx.RequestBodyStream(), buf)
				ctx.SetStatusCode(fasthttp.StatusNoContent)
			case "/cached":
				f, err := os.Open(cachedPath)
				if err != nil {
					ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
					return
				}
				ctx.SetBodyStream(f, int(size)) // fasthttp closes f
			default:
				ctx.NotFound()
			}
		},
	}
	go func() { defer close(bl.done); _ = bl.srv.Serve(ln) }()
	return bl
}

func (bl *baseline) close() {
	_ = bl.srv.Shutdown()
	<-bl.done
}
