package httpd

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// slowMount serves /slow: a body written in small pieces, one per tick, over longer than the
// server's WriteTimeout in total; and claims nothing else.
type slowMount struct {
	pieces int
	tick   time.Duration
}

func (m slowMount) Handle(ctx *fasthttp.RequestCtx) bool {
	if string(ctx.Path()) != "/slow" {
		return false
	}
	pieces, tick := m.pieces, m.tick
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		t := time.NewTicker(tick)
		defer t.Stop()
		buf := make([]byte, 1024)
		for range pieces {
			<-t.C // the producer is slow: the scenario, not a wait in the test
			if _, err := w.Write(buf); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	})
	return true
}

// TestWriteDeadlinePerWrite guards against fasthttp's whole-response write deadline: a
// response that takes longer than WriteTimeout in total, while each write progresses, must
// arrive whole (a large download to a slow client). Unknown paths stay 404 with a mount.
func TestWriteDeadlinePerWrite(t *testing.T) {
	m := slowMount{pieces: 12, tick: 100 * time.Millisecond} // 1.2 s in all
	s, pool := startTest(t, Deps{API: m}, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, path string
		status     int
		size       int
	}{
		{"slow response arrives whole", "/slow", 200, 12 * 1024},
		{"unclaimed path", "/other", 404, -1},
		{"uploads without a mount", UploadsPrefix, 404, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := hc.Get("https://" + s.Addr().String() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read %s: %v (after %d bytes)", tc.path, err, len(b))
			}
			if resp.StatusCode != tc.status || tc.size >= 0 && len(b) != tc.size {
				t.Fatalf("GET %s = %d with %d bytes, want %d with %d", tc.path, resp.StatusCode, len(b), tc.status, tc.size)
			}
		})
	}
}

// pathMount claims a fixed set of paths and answers each with its own name.
type pathMount struct {
	name  string
	paths []string
}

func (m pathMount) Handle(ctx *fasthttp.RequestCtx) bool {
	for _, p := range m.paths {
		if string(ctx.Path()) == p {
			ctx.SetBodyString(m.name)
			return true
		}
	}
	return false
}

// TestMountOrder routes to the probes and uploads first, then the API, then the web UI: the
// API keeps a path both claim (the link pages under /s/), the web UI gets what the API
// leaves, and a path neither claims is 404.
func TestMountOrder(t *testing.T) {
	uploads := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("uploads") }
	s, pool := startTest(t, Deps{
		Uploads: uploads,
		API:     pathMount{"api", []string{"/api/v1/sends", "/s/x"}},
		Web:     pathMount{"web", []string{"/", "/login", "/s/x", "/healthz", UploadsPrefix}},
	}, nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "web"},
		{"/login", 200, "web"},
		{"/api/v1/sends", 200, "api"},
		{"/s/x", 200, "api"},
		{"/healthz", 200, "ok\n"},
		{UploadsPrefix, 200, "uploads"},
		{"/nowhere", 404, "not found\n"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := hc.Get("https://" + s.Addr().String() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Fatalf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}
