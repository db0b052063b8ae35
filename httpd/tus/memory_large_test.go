//go:build large

package tus_test

import (
	"crypto/sha256"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"valise/httpd/tus"
)

// TestStreamingMemoryLarge uploads 512 MiB in one PATCH over TLS while a poller records
// the heap in use: the body must stream through fixed buffers, never be held (run without
// -race; server and client share this process, so the bound covers both).
func TestStreamingMemoryLarge(t *testing.T) {
	const size = 512 << 20
	const bound = 64 << 20
	e := newEnv(t, envConfig{maxSize: size})
	e.srv.Client.Timeout = 10 * time.Minute
	id := e.create(size, "")

	stop := make(chan struct{})
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	src := sha256.New()
	body := io.TeeReader(newPatternReader(size), src)
	res := e.must(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
		"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
	}, body: body, length: size})
	close(stop)
	wg.Wait()
	if res.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", res.status, res.body)
	}
	t.Logf("peak HeapInuse %.1f MiB for a %d MiB upload", float64(peak)/(1<<20), size>>20)
	if peak > bound {
		t.Errorf("peak HeapInuse %d MiB, want under %d MiB: the body was buffered", peak>>20, bound>>20)
	}
	var want [32]byte
	copy(want[:], src.Sum(nil))
	if got, n := e.stored(id); n != size || got != want {
		t.Fatalf("stored %d bytes, SHA-256 differs from the source", n)
	}
}
