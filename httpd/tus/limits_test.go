package tus_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"valise/httpd/tus"
	"valise/internal/membudget"
)

// TestUploadPastMemoryBudget is the slow-upload flood of issue 16 item 5 (each trickling
// upload held tens of MiB and nothing capped how many ran): a PATCH that finds no room in the
// node's memory budget waits briefly, then gets 503 with Retry-After and nothing of its body
// is stored; a user whose share is not used up is still served while another user holds
// theirs; and once the budget has room the same PATCH goes through.
func TestUploadPastMemoryBudget(t *testing.T) {
	const mib = 1 << 20
	b, err := membudget.New(20*mib, 10*mib)
	if err != nil {
		t.Fatal(err)
	}
	g, err := membudget.NewGate(b, membudget.GateConfig{
		Costs: [3]int64{10 * mib, 10 * mib, 10 * mib}, Wait: 20 * time.Millisecond, RetryAfter: 7 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envConfig{gate: g})
	id := e.create(8, "")
	data := []byte("8 bytes!")
	patch := func(as string) result {
		return e.must(req{method: http.MethodPatch, path: "/" + id, as: as, body: bytes.NewReader(data), length: int64(len(data)),
			header: map[string]string{"Content-Type": tus.OffsetContentType, "Upload-Offset": "0"}})
	}

	// Mallory's transfers hold her whole share, from another address: alice is served.
	mallory, ok := b.TryAcquire(10*mib, "user:mallory", "ip:192.0.2.1")
	if !ok {
		t.Fatal("mallory's share refused")
	}
	other := e.create(8, "")
	if res := e.must(req{method: http.MethodPatch, path: "/" + other, body: bytes.NewReader(data), length: 8,
		header: map[string]string{"Content-Type": tus.OffsetContentType, "Upload-Offset": "0"}}); res.status != http.StatusNoContent {
		t.Fatalf("alice's PATCH while mallory holds her share: %d %s", res.status, res.body)
	}

	// Now the whole budget is held: alice waits, then is told to come back.
	bob, ok := b.TryAcquire(10*mib, "user:bob", "ip:192.0.2.2")
	if !ok {
		t.Fatal("bob's share refused")
	}
	res := patch("alice")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "7" {
		t.Fatalf("PATCH past the budget: %d Retry-After %q %s, want 503 with Retry-After 7", res.status, res.header.Get("Retry-After"), res.body)
	}
	if h := e.must(req{method: http.MethodHead, path: "/" + id}); h.header.Get("Upload-Offset") != "0" {
		t.Fatalf("offset %s after a refused PATCH, want 0", h.header.Get("Upload-Offset"))
	}

	mallory.Release()
	bob.Release()
	if res := patch("alice"); res.status != http.StatusNoContent {
		t.Fatalf("PATCH once the budget has room: %d %s", res.status, res.body)
	}
	if u := b.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved after the PATCHes", u)
	}
}
