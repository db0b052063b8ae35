package tus_test

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // tus checksum algorithm under test
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"valise/fault"
	"valise/httpd/tus"
	"valise/httpd/tus/tustest"
	"valise/internal/membudget"
	"valise/internal/testlog"
	"valise/userid"
)

// env is one tus server over TLS on a real file backend.
type env struct {
	t       testing.TB
	backend *tustest.Backend
	srv     *tustest.Server
	now     atomic.Int64 // the backend's clock, Unix nanoseconds
}

// envConfig tunes newEnv.
type envConfig struct {
	maxSize       int64
	ttl           time.Duration
	readTimeout   time.Duration // tus per-read deadline
	serverTimeout time.Duration // fasthttp's ReadTimeout
	dir           string        // the backend's directory; "" for a fresh one
	quiet         bool          // no debug log (benchmarks)
	gate          *membudget.Gate
}

func newEnv(tb testing.TB, c envConfig) *env {
	tb.Helper()
	if c.maxSize == 0 {
		c.maxSize = 1 << 30
	}
	if c.readTimeout == 0 {
		c.readTimeout = 10 * time.Second
	}
	if c.serverTimeout == 0 {
		c.serverTimeout = 10 * time.Second
	}
	e := &env{t: tb}
	e.now.Store(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixNano())
	if c.dir == "" {
		c.dir = tb.TempDir()
	}
	b, err := tustest.Open(tustest.Config{
		Dir:     c.dir,
		MaxSize: c.maxSize,
		TTL:     c.ttl,
		Now:     func() time.Time { return time.Unix(0, e.now.Load()) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.backend = b
	cfg := tus.DefaultConfig()
	cfg.ReadTimeout = c.readTimeout
	cfg.Gate = c.gate
	logger := testLogger(tb)
	if c.quiet {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := tus.New(cfg, b, bearer, logger)
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = tustest.StartTLS(tb, s.Handle, c.serverTimeout)
	return e
}

// newEnvWith serves another backend (benchmarks); e.backend is then nil.
func newEnvWith(tb testing.TB, b tus.Backend) *env {
	tb.Helper()
	s, err := tus.New(tus.DefaultConfig(), b, bearer, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return &env{t: tb, srv: tustest.StartTLS(tb, s.Handle, 10*time.Second)}
}

// Principals the test's authentication cannot check: the metadata has no leader, or is
// broken.
const (
	principalNoLeader = "no-leader"
	principalBroken   = "broken"
)

// bearer is the test's authentication: "Authorization: Bearer <principal>", but for the
// principals it cannot check.
func bearer(ctx *fasthttp.RequestCtx) (userid.ID, error) {
	p, ok := strings.CutPrefix(string(ctx.Request.Header.Peek("Authorization")), "Bearer ")
	switch {
	case !ok || p == "":
		return "", tus.ErrUnauthorized
	case p == principalNoLeader:
		return "", fmt.Errorf("authenticate: %w", fault.New(fault.Unavailable, fault.UnavailableCode, "no leader known"))
	case p == principalBroken:
		return "", errors.New("authenticate: disk on fire")
	}
	return userid.ID(p), nil
}

func testLogger(tb testing.TB) *slog.Logger {
	return testlog.New(tb, slog.LevelDebug)
}

// result is a response read to its end.
type result struct {
	status int
	header http.Header
	body   []byte
}

// req is one request's description; zero values mean the usual.
type req struct {
	method  string
	path    string // under the upload prefix: "" or "/"+id
	header  map[string]string
	body    io.Reader
	length  int64 // Content-Length; -1 chunked
	noTus   bool  // omit Tus-Resumable
	noAuth  bool  // omit Authorization
	as      string
	rawPath string // overrides the prefix + path
}

func (e *env) do(r req) (result, error) {
	u := e.srv.URL + tus.DefaultConfig().Prefix + r.path
	if r.rawPath != "" {
		u = e.srv.URL + r.rawPath
	}
	hr, err := http.NewRequest(r.method, u, r.body)
	if err != nil {
		return result{}, err
	}
	if r.body != nil {
		hr.ContentLength = r.length
	}
	if !r.noTus {
		hr.Header.Set("Tus-Resumable", "1.0.0")
	}
	if !r.noAuth {
		as := r.as
		if as == "" {
			as = "alice"
		}
		hr.Header.Set("Authorization", "Bearer "+as)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client.Do(hr)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (e *env) must(r req) result {
	e.t.Helper()
	res, err := e.do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return res
}

// create makes an upload of length bytes and returns its ID.
func (e *env) create(length int64, metadata string) string {
	e.t.Helper()
	h := map[string]string{"Upload-Length": strconv.FormatInt(length, 10)}
	if metadata != "" {
		h["Upload-Metadata"] = metadata
	}
	res := e.must(req{method: http.MethodPost, header: h})
	if res.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", res.status, res.body)
	}
	loc := res.header.Get("Location")
	id, ok := strings.CutPrefix(loc, tus.DefaultConfig().Prefix+"/")
	if !ok || id == "" {
		e.t.Fatalf("create: Location %q", loc)
	}
	return id
}

// patch sends data at offset with extra headers.
func (e *env) patch(id string, offset int64, data []byte, extra map[string]string) result {
	e.t.Helper()
	h := map[string]string{
		"Content-Type":  tus.OffsetContentType,
		"Upload-Offset": strconv.FormatInt(offset, 10),
	}
	for k, v := range extra {
		h[k] = v
	}
	return e.must(req{method: http.MethodPatch, path: "/" + id, header: h, body: bytes.NewReader(data), length: int64(len(data))})
}

// offset returns the upload's offset by HEAD.
func (e *env) offset(id string) int64 {
	e.t.Helper()
	res := e.must(req{method: http.MethodHead, path: "/" + id})
	if res.status != http.StatusOK {
		e.t.Fatalf("HEAD %s: %d", id, res.status)
	}
	n, err := strconv.ParseInt(res.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		e.t.Fatalf("HEAD %s: Upload-Offset %q", id, res.header.Get("Upload-Offset"))
	}
	return n
}

// stored returns the SHA-256 of the upload's stored bytes and their count.
func (e *env) stored(id string) ([32]byte, int64) {
	e.t.Helper()
	f, err := openFile(e.backend.DataPath(id))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		e.t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n
}

// advance moves the backend's clock.
func (e *env) advance(d time.Duration) { e.now.Add(int64(d)) }

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func sha1Header(b []byte) string {
	d := sha1.Sum(b) //nolint:gosec // tus checksum algorithm under test
	return "sha1 " + base64.StdEncoding.EncodeToString(d[:])
}

func sha256Header(b []byte) string {
	d := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(d[:])
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func openFile(name string) (*os.File, error) { return os.Open(name) }
