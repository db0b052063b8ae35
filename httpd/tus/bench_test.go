package tus_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/httpd/tus"
	"valise/httpd/tus/tustest"
	"valise/userid"
)

// patternReader streams size bytes made of a repeated 1 MiB random block, without holding
// them: the client side of the large uploads.
type patternReader struct {
	block []byte
	left  int64
	pos   int
}

func newPatternReader(size int64) *patternReader {
	return &patternReader{block: randomBytes(1<<20, 9), left: size}
}

func (r *patternReader) Read(p []byte) (int, error) {
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
	return n, nil
}

// benchSize is the upload size: VALISE_BENCH_UPLOAD_SIZE (bytes, or with a K, M or G
// suffix), 1 GiB by default.
func benchSize(b *testing.B) int64 {
	v := os.Getenv("VALISE_BENCH_UPLOAD_SIZE")
	if v == "" {
		return 1 << 30
	}
	shift := 0
	switch {
	case strings.HasSuffix(v, "K"):
		shift = 10
	case strings.HasSuffix(v, "M"):
		shift = 20
	case strings.HasSuffix(v, "G"):
		shift = 30
	}
	if shift > 0 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("VALISE_BENCH_UPLOAD_SIZE=%q: want a positive size such as 1G", os.Getenv("VALISE_BENCH_UPLOAD_SIZE"))
	}
	return n << shift
}

// BenchmarkUploadTLS uploads one file with one tus PATCH over HTTPS on loopback; compare
// with BenchmarkDiscardTLS. Backends: "file", the tustest reference (written with pwrite
// on the request goroutine, fsync'd at the chunk's end: it measures this disk too); "sink",
// which reads the Chunk and drops it (the protocol's own cost); "sink+sha256", the same
// with an Upload-Checksum verified over the whole chunk.
func BenchmarkUploadTLS(b *testing.B) {
	size := benchSize(b)
	for _, bc := range []struct {
		name     string
		backend  func(b *testing.B) tus.Backend
		checksum bool
	}{
		{"backend=file", nil, false},
		{"backend=sink", func(*testing.B) tus.Backend { return newSink(size) }, false},
		{"backend=sink+sha256", func(*testing.B) tus.Backend { return newSink(size) }, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var e *env
			if bc.backend == nil {
				e = newEnv(b, envConfig{maxSize: size, quiet: true})
			} else {
				e = newEnvWith(b, bc.backend(b))
			}
			e.srv.Client.Timeout = 10 * time.Minute
			header := map[string]string{"Content-Type": tus.OffsetContentType, "Upload-Offset": "0"}
			if bc.checksum {
				h := sha256.New()
				if _, err := io.Copy(h, newPatternReader(size)); err != nil {
					b.Fatal(err)
				}
				header["Upload-Checksum"] = "sha256 " + base64.StdEncoding.EncodeToString(h.Sum(nil))
			}
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				syscall.Sync()
				id := e.create(size, "")
				b.StartTimer()
				res := e.must(req{method: http.MethodPatch, path: "/" + id, header: header, body: newPatternReader(size), length: size})
				b.StopTimer()
				if res.status != http.StatusNoContent {
					b.Fatalf("PATCH: %d %s", res.status, res.body)
				}
				if res := e.must(req{method: http.MethodDelete, path: "/" + id}); res.status != http.StatusNoContent {
					b.Fatalf("DELETE: %d", res.status)
				}
				b.StartTimer()
			}
		})
	}
}

// sink is a Backend that keeps offsets in memory and drops the bytes: it isolates the
// handler's cost in BenchmarkUploadTLS.
type sink struct {
	max int64

	mu      sync.Mutex       // guards uploads and next
	uploads map[string]int64 // offset by ID
	next    int
}

func newSink(max int64) *sink { return &sink{max: max, uploads: make(map[string]int64)} }

func (s *sink) Create(_ context.Context, r tus.CreateRequest) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	id := "u" + strconv.Itoa(s.next)
	s.uploads[id] = 0
	return id, nil
}

func (s *sink) Info(_ context.Context, _ userid.ID, id string) (tus.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.uploads[id]
	if !ok {
		return tus.Info{}, tus.ErrNotFound
	}
	return tus.Info{Offset: off, Length: s.max}, nil
}

func (s *sink) Write(_ context.Context, _ userid.ID, id string, offset int64, c tus.Chunk) (int64, error) {
	buf := make([]byte, tustest.BufferSize)
	var n int64
	var readErr error
	for {
		m, err := c.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if err := c.Verify(); err != nil {
		return offset, err
	}
	s.mu.Lock()
	s.uploads[id] = offset + n
	s.mu.Unlock()
	return offset + n, readErr
}

func (s *sink) Terminate(_ context.Context, _ userid.ID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.uploads, id)
	return nil
}

func (s *sink) MaxSize(userid.ID) int64 { return s.max }

// BenchmarkDiscardTLS is BenchmarkUploadTLS's baseline: the same TLS stack, server and
// client, with a handler that reads the body with a 256 KiB buffer and drops it.
func BenchmarkDiscardTLS(b *testing.B) {
	size := benchSize(b)
	srv := tustest.StartTLS(b, discard, 10*time.Second)
	srv.Client.Timeout = 10 * time.Minute
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		syscall.Sync()
		hr, err := http.NewRequest(http.MethodPatch, srv.URL+"/discard", newPatternReader(size))
		if err != nil {
			b.Fatal(err)
		}
		hr.ContentLength = size
		b.StartTimer()
		resp, err := srv.Client.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-Read") != strconv.FormatInt(size, 10) {
			b.Fatalf("discard: %d, read %s", resp.StatusCode, resp.Header.Get("X-Read"))
		}
	}
}

// discard reads the streamed body to its end and says how much it read.
func discard(ctx *fasthttp.RequestCtx) {
	buf := make([]byte, tustest.BufferSize)
	var n int64
	r := ctx.RequestBodyStream()
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
	}
	ctx.Response.Header.Set("X-Read", strconv.FormatInt(n, 10))
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}
