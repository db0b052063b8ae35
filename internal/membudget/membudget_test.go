package membudget_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/internal/membudget"
)

const mib = 1 << 20

func newBudget(t *testing.T, total, share int64) *membudget.Budget {
	t.Helper()
	b, err := membudget.New(total, share)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBurstNeverOverCommits runs a concurrent burst of 200 reservations of 3 MiB each against
// a 64 MiB budget: at no moment do the holders hold more than the budget, and every
// reservation is served once the others release (issue 16 item 5: transfers reserve the
// node's byte-path memory before they allocate).
func TestBurstNeverOverCommits(t *testing.T) {
	b := newBudget(t, 64*mib, 0)
	var (
		wg      sync.WaitGroup
		holding atomic.Int64
		peak    atomic.Int64
		served  atomic.Int32
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard
	defer cancel()
	for i := range 200 {
		wg.Go(func() {
			r, err := b.Acquire(ctx, 3*mib, "user", string(rune('a'+i%7)))
			if err != nil {
				t.Errorf("reservation %d: %v", i, err)
				return
			}
			now := holding.Add(r.Size())
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			served.Add(1)
			holding.Add(-r.Size())
			r.Release()
		})
	}
	wg.Wait()
	if served.Load() != 200 {
		t.Fatalf("%d of 200 reservations served", served.Load())
	}
	if p := peak.Load(); p > 64*mib {
		t.Fatalf("holders held %d MiB at once, budget 64 MiB", p/mib)
	}
	if u := b.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved after every release", u)
	}
}

// TestShareKeepsOneKeyFromStarvingAnother is the fairness attack of issue 16 item 5: one user
// opens many slow transfers (here 200 reservations waiting on its share); another user's
// reservation is still served at once, since each key may hold only its share.
func TestShareKeepsOneKeyFromStarvingAnother(t *testing.T) {
	b := newBudget(t, 100*mib, 25*mib)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held []*membudget.Reservation
	for {
		r, ok := b.TryAcquire(5*mib, "user:mallory", "ip:127.0.0.2")
		if !ok {
			break
		}
		held = append(held, r)
	}
	if got := b.UsedBy("user:mallory"); got != 25*mib {
		t.Fatalf("mallory holds %d MiB, want her 25 MiB share", got/mib)
	}
	// 200 more of mallory's wait for her share, concurrently.
	var wg sync.WaitGroup
	var waiting atomic.Int32
	for range 200 {
		wg.Go(func() {
			waiting.Add(1)
			r, err := b.Acquire(ctx, 5*mib, "user:mallory", "ip:127.0.0.3")
			if err == nil {
				r.Release()
			}
		})
	}
	// Alice, from another address, gets hers without waiting.
	r, ok := b.TryAcquire(20*mib, "user:alice", "ip:127.0.0.9")
	if !ok {
		t.Fatalf("alice refused while mallory holds %d MiB of 100", b.Used()/mib)
	}
	r.Release()
	// One address is a key too: mallory's second address is held to its share as well.
	if _, ok := b.TryAcquire(30*mib, "user:bob", "ip:127.0.0.2"); ok {
		t.Fatal("30 MiB for a key whose share is 25 MiB")
	}
	cancel()
	wg.Wait()
	for _, r := range held {
		r.Release()
	}
	if u := b.Used(); u != 0 {
		t.Fatalf("%d bytes still reserved", u)
	}
}

// TestWaiterServedOnRelease: a reservation that does not fit waits and is served by the
// release that makes room.
func TestWaiterServedOnRelease(t *testing.T) {
	b := newBudget(t, 10*mib, 0)
	first, ok := b.TryAcquire(8*mib, "a")
	if !ok {
		t.Fatal("first reservation refused")
	}
	got := make(chan error, 1)
	go func() {
		r, err := b.Acquire(context.Background(), 4*mib, "b")
		r.Release()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("served before the release: %v", err)
	default:
	}
	first.Release()
	first.Release() // twice is harmless
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestAcquireRefusals: past the context's end the reservation fails with ErrExhausted (the
// caller answers 503), and one that could never fit fails at once with ErrTooLarge.
func TestAcquireRefusals(t *testing.T) {
	b := newBudget(t, 10*mib, 6*mib)
	r, _ := b.TryAcquire(6*mib, "a")
	defer r.Release()
	for _, tc := range []struct {
		name string
		n    int64
		keys []string
		want error
	}{
		{"total exhausted", 5 * mib, []string{"b"}, membudget.ErrExhausted},
		{"share exhausted", 1 * mib, []string{"a"}, membudget.ErrExhausted},
		{"above a share", 7 * mib, []string{"c"}, membudget.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := b.Acquire(ctx, tc.n, tc.keys...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Acquire: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestGateBoundsZips is the zip flood of issue 16 item 5 (ten zips at once took 97 s of CPU
// and lost download records): a burst of 10 zips through a gate allowing 2 never has more
// than 2 streaming, and the refused ones fail with ErrExhausted once the wait is over.
func TestGateBoundsZips(t *testing.T) {
	b := newBudget(t, 100*mib, 0)
	g, err := membudget.NewGate(b, membudget.GateConfig{Costs: [3]int64{1 * mib, 1 * mib, 1 * mib}, MaxZips: 2, Wait: 50 * time.Millisecond, RetryAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var (
		wg               sync.WaitGroup
		streaming, peak  atomic.Int32
		admitted, denied atomic.Int32
	)
	for range 10 {
		wg.Go(func() {
			r, err := g.Admit(context.Background(), membudget.Zip, "ip:127.0.0.1")
			if err != nil {
				if !errors.Is(err, membudget.ErrExhausted) {
					t.Errorf("refusal %v, want ErrExhausted", err)
				}
				denied.Add(1)
				return
			}
			admitted.Add(1)
			n := streaming.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			streaming.Add(-1)
			r.Release()
		})
	}
	// Wait until every zip was admitted or refused: the refusals need the wait to pass.
	deadline := time.Now().Add(time.Minute)
	for admitted.Load()+denied.Load() < 10 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if peak.Load() > 2 || admitted.Load() != 2 || denied.Load() != 8 {
		t.Fatalf("peak %d zips streaming, %d admitted, %d refused; want at most 2, 2 and 8", peak.Load(), admitted.Load(), denied.Load())
	}
	// The slots came back: a zip is admitted again.
	r, err := g.Admit(context.Background(), membudget.Zip)
	if err != nil {
		t.Fatalf("zip after the others released: %v", err)
	}
	r.Release()
	if g.RetryAfter() != 5 {
		t.Fatalf("RetryAfter %d, want 5", g.RetryAfter())
	}
}
