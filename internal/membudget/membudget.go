// Package membudget bounds the memory a node's byte path (uploads, downloads, zips) may hold
// at once: a weighted semaphore of bytes, where every reservation also counts against a share
// per key (a user, a client address), so that one key's many transfers cannot take the whole
// budget and starve another's.
//
// A transfer reserves what its pipeline will allocate before it allocates it, and releases it
// when the pipeline's buffers are gone. A reservation that does not fit waits until one does
// or its context ends; callers bound the wait (a few seconds) and answer 503 with Retry-After
// past it. Waiters are not served in order: each release wakes them all and each takes what
// fits, so a waiter blocked by its own key's share never holds back another key's.
package membudget

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Errors returned by Budget.
var (
	// ErrExhausted is returned (wrapped with the context's error) by Acquire when the
	// context ended before the reservation fitted.
	ErrExhausted = errors.New("membudget: memory budget exhausted")
	// ErrTooLarge is returned by Acquire for a reservation that could never fit: above the
	// total or above a key's share.
	ErrTooLarge = errors.New("membudget: reservation larger than the budget or a share")
)

// Budget is a byte budget with a share per key. Its methods are safe for concurrent use.
type Budget struct {
	total int64 // bytes in all; > 0
	share int64 // bytes any one key may hold; 0 < share <= total

	mu    sync.Mutex       // guards used, byKey, wake
	used  int64            // bytes reserved in all
	byKey map[string]int64 // bytes reserved per key; no zero entries
	wake  chan struct{}    // closed (and replaced) at every release; never nil
}

// New returns a budget of total bytes in which each key may hold at most share bytes. A share
// of 0 or above total is total (keys are then not limited apart from the total).
func New(total, share int64) (*Budget, error) {
	if total <= 0 {
		return nil, fmt.Errorf("membudget: total %d must be positive", total)
	}
	if share <= 0 || share > total {
		share = total
	}
	return &Budget{total: total, share: share, byKey: map[string]int64{}, wake: make(chan struct{})}, nil
}

// Total returns the budget's size in bytes.
func (b *Budget) Total() int64 { return b.total }

// Share returns what one key may hold, in bytes.
func (b *Budget) Share() int64 { return b.share }

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// UsedBy returns the bytes key holds now.
func (b *Budget) UsedBy(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byKey[key]
}

// Reservation is bytes held in a Budget until Release.
type Reservation struct {
	b     *Budget
	n     int64
	keys  []string
	once  sync.Once
	after func() // run at Release after the bytes are back; nil: nothing
}

// Release returns the reservation's bytes to the budget and wakes the waiters. It may be
// called more than once (the later calls do nothing), and on a nil Reservation.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		r.b.release(r.n, r.keys)
		if r.after != nil {
			r.after()
		}
	})
}

// Size returns the bytes reserved.
func (r *Reservation) Size() int64 {
	if r == nil {
		return 0
	}
	return r.n
}

// TryAcquire reserves n bytes counted against each of keys if they fit now; ok is false
// otherwise. Empty keys are ignored; a key given twice counts once.
func (b *Budget) TryAcquire(n int64, keys ...string) (*Reservation, bool) {
	keys = dedup(keys)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.fits(n, keys) {
		return nil, false
	}
	b.take(n, keys)
	return &Reservation{b: b, n: n, keys: keys}, true
}

// Acquire reserves n bytes counted against the total and against each of keys' shares,
// waiting until they fit or ctx ends (ErrExhausted, wrapping ctx's error). A reservation
// that could never fit returns ErrTooLarge at once. Empty keys are ignored.
func (b *Budget) Acquire(ctx context.Context, n int64, keys ...string) (*Reservation, error) {
	if n < 0 {
		return nil, fmt.Errorf("membudget: negative reservation %d", n)
	}
	if n > b.share {
		return nil, fmt.Errorf("%w: %d bytes, share %d of %d", ErrTooLarge, n, b.share, b.total)
	}
	keys = dedup(keys)
	for {
		b.mu.Lock()
		if b.fits(n, keys) {
			b.take(n, keys)
			b.mu.Unlock()
			return &Reservation{b: b, n: n, keys: keys}, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrExhausted, ctx.Err())
		}
	}
}

// fits reports whether n more bytes fit the total and every key's share; b.mu held.
func (b *Budget) fits(n int64, keys []string) bool {
	if b.used+n > b.total {
		return false
	}
	for _, k := range keys {
		if b.byKey[k]+n > b.share {
			return false
		}
	}
	return true
}

// take records n bytes for keys; b.mu held.
func (b *Budget) take(n int64, keys []string) {
	b.used += n
	for _, k := range keys {
		b.byKey[k] += n
	}
}

func (b *Budget) release(n int64, keys []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	for _, k := range keys {
		if b.byKey[k] -= n; b.byKey[k] <= 0 {
			delete(b.byKey, k)
		}
	}
	close(b.wake)
	b.wake = make(chan struct{})
}

// dedup drops empty and repeated keys.
func dedup(keys []string) []string {
	out := keys[:0:0]
	for _, k := range keys {
		if k == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == k {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}
