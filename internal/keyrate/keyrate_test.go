package keyrate

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestBurstThenRefill: a key gets Burst at once, then PerMinute's pace; keys are independent.
func TestBurstThenRefill(t *testing.T) {
	l := New(60, 3, 10) // one a second
	t0 := time.Unix(1_000_000, 0)
	for i := range 3 {
		if !l.Allow("a", t0) {
			t.Fatalf("attempt %d of the burst refused", i+1)
		}
	}
	if l.Allow("a", t0) {
		t.Fatal("a fourth attempt at once allowed")
	}
	if !l.Allow("b", t0) {
		t.Fatal("another key refused")
	}
	if !l.Allow("a", t0.Add(time.Second)) {
		t.Fatal("no token a second later")
	}
}

// TestBoundedKeys: past MaxKeys, idle buckets are forgotten, so the map never grows beyond
// the bound however many keys come.
func TestBoundedKeys(t *testing.T) {
	l := New(1, 1, 100)
	t0 := time.Unix(1_000_000, 0)
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Allow(fmt.Sprint("k", i), now)
		if l.Len() > 100 {
			t.Fatalf("%d keys tracked, want at most 100", l.Len())
		}
	}
}

// TestConcurrentBurst: a concurrent burst on one key gets exactly Burst tokens.
func TestConcurrentBurst(t *testing.T) {
	l := New(1, 5, 10)
	now := time.Unix(1_000_000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Go(func() {
			if l.Allow("x", now) {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 5 {
		t.Fatalf("%d of a burst of 50 allowed, want 5", allowed)
	}
}
