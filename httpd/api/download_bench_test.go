package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// BenchmarkDownloadTLS serves one file (VALISE_BENCH_DOWNLOAD_MIB, default 256 MiB) of a
// production blobstore (1 MiB blocks, 4+2 on six directories) through fileStream over a
// fasthttp TLS server configured like the node's (256 KiB buffers, a write deadline per
// write), to a net/http client on loopback; beside it, in the same run, a plain HTTPS GET of
// a file in the page cache over the same stack. cold: the shard files are evicted from the
// page cache before each download (sync, then posix_fadvise DONTNEED via dd); warm: not.
func BenchmarkDownloadTLS(b *testing.B) {
	size := int64(256) << 20
	if v := os.Getenv("VALISE_BENCH_DOWNLOAD_MIB"); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mib < 1 {
			b.Fatalf("VALISE_BENCH_DOWNLOAD_MIB=%q", v)
		}
		size = mib << 20
	}
	dirs, bs := benchStore(b)
	m := benchPut(b, bs, size)
	cached := filepath.Join(b.TempDir(), "cached.bin")
	src := make([]byte, 1<<20)
	mrand.NewChaCha8([32]byte{3}).Read(src)
	f, err := os.Create(cached)
	if err != nil {
		b.Fatal(err)
	}
	for range size >> 20 {
		if _, err := f.Write(src); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	h := &Handler{cfg: DefaultConfig()}
	url, client := benchTLSServer(b, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/cached":
			f, err := os.Open(cached)
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			ctx.SetBodyStream(f, int(size))
		default:
			rc, err := bs.Open(b.Context(), m)
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			ctx.SetBodyStream(&fileStream{h: h, rc: rc, length: size, size: size}, int(size))
		}
	})
	get := func(path string) time.Duration {
		start := time.Now()
		resp, err := client.Get(url + path)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
		if err != nil || n != size {
			b.Fatalf("GET %s: %d bytes, %v", path, n, err)
		}
		return time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	b.Run("store-only", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			evict(b, dirs)
			b.StartTimer()
			if err := bs.Get(b.Context(), m, io.Discard, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(size)
			var down, base time.Duration
			for b.Loop() {
				b.StopTimer()
				get("/cached")
				if mode == "cold" {
					evict(b, dirs)
				} else {
					get("/file")
				}
				b.StartTimer()
				down += get("/file")
				b.StopTimer()
				base += get("/cached")
				b.StartTimer()
			}
			b.ReportMetric(mbps(down/time.Duration(b.N)), "download-MB/s")
			b.ReportMetric(mbps(base/time.Duration(b.N)), "cached-get-MB/s")
			b.ReportMetric(100*base.Seconds()/down.Seconds(), "download-%")
		})
	}
}

// benchStore is the production layout (1 MiB blocks, 4+2) on six temporary directories.
func benchStore(b *testing.B) ([]string, *blobstore.Store) {
	b.Helper()
	bs, byID := blobtest.NewDirStore(b, 6, "4+2", 0)
	dirs := make([]string, 0, len(byID))
	for _, d := range byID {
		dirs = append(dirs, d)
	}
	return dirs, bs
}

// benchPut stores size random (incompressible) bytes and returns the manifest.
func benchPut(b *testing.B, bs *blobstore.Store, size int64) blobstore.Manifest {
	b.Helper()
	w, err := bs.Create(b.Context(), "benchfile")
	if err != nil {
		b.Fatal(err)
	}
	src := make([]byte, 1<<20)
	rng := mrand.NewChaCha8([32]byte{1})
	for range size >> 20 {
		rng.Read(src)
		if _, err := w.Write(src); err != nil {
			b.Fatal(err)
		}
	}
	m, err := w.Commit(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// evict drops every file under dirs from the page cache, after sync (dd iflag=nocache count=0).
func evict(b *testing.B, dirs []string) {
	syscall.Sync()
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				if out, err := exec.Command("dd", "if="+p, "iflag=nocache", "count=0", "status=none").CombinedOutput(); err != nil {
					b.Fatalf("evict %s: %v %s", p, err, out)
				}
			}
			return nil
		})
	}
}

// benchTLSServer serves handler over TLS like the node (fasthttp, 256 KiB buffers, a write
// deadline per write under TLS) and returns its URL and a client that trusts it.
func benchTLSServer(b *testing.B, handler fasthttp.RequestHandler) (string, *http.Client) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
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
	var inner net.Listener = tcp
	if os.Getenv("VALISE_BENCH_NO_DEADLINE") == "" {
		inner = deadlineListener{tcp}
	}
	ln := tls.NewListener(inner, &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	srv := &fasthttp.Server{Handler: handler, StreamRequestBody: true,
		ReadBufferSize: 256 << 10, WriteBufferSize: 256 << 10, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(); <-done })
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}
	b.Cleanup(tr.CloseIdleConnections)
	return "https://" + tcp.Addr().String(), &http.Client{Transport: tr}
}

// deadlineListener mimics httpd's writeTimeoutListener: a write deadline armed per write.
type deadlineListener struct{ net.Listener }

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return deadlineConn{c}, nil
}

type deadlineConn struct{ net.Conn }

func (c deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
