package membudget

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is a kind of transfer the Gate admits, each with its own cost.
type Kind int

// The kinds of transfer.
const (
	// Upload is one tus PATCH (or POST with a body) streaming into a blobstore writer and
	// its live scan.
	Upload Kind = iota
	// Download is one file streaming out of the blobstore.
	Download
	// Zip is one zip of a link's files; it also takes one of the Gate's zip slots.
	Zip
	numKinds
)

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case Upload:
		return "upload"
	case Download:
		return "download"
	case Zip:
		return "zip"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// GateConfig sizes a Gate.
type GateConfig struct {
	// Costs are the bytes one transfer of each kind reserves: what its pipeline allocates.
	Costs [numKinds]int64
	// Wait bounds how long Admit waits for room before refusing.
	Wait time.Duration
	// MaxZips bounds the zips streaming at once (each costs CPU and metadata writes as well
	// as memory); 0: no bound apart from the budget.
	MaxZips int
	// RetryAfter is what a refused client is told to wait.
	RetryAfter time.Duration
}

// Gate admits transfers into a Budget: each reserves its kind's cost, counted against the
// keys the caller names (the user, the client address), waiting at most Config.Wait. It is
// safe for concurrent use; a nil *Gate admits everything and reserves nothing.
type Gate struct {
	cfg  GateConfig
	b    *Budget       // never nil
	zips chan struct{} // one token per zip streaming; nil without MaxZips
}

// NewGate returns a gate over b.
func NewGate(b *Budget, cfg GateConfig) (*Gate, error) {
	if b == nil {
		return nil, errors.New("membudget: NewGate needs a budget")
	}
	for k, c := range cfg.Costs {
		if c < 0 || c > b.share {
			return nil, fmt.Errorf("membudget: %s costs %d bytes, above a share of %d: none could ever run", Kind(k), c, b.share)
		}
	}
	if cfg.Wait < 0 || cfg.MaxZips < 0 || cfg.RetryAfter < 0 {
		return nil, errors.New("membudget: negative wait, zip bound or retry delay")
	}
	g := &Gate{cfg: cfg, b: b}
	if cfg.MaxZips > 0 {
		g.zips = make(chan struct{}, cfg.MaxZips)
	}
	return g, nil
}

// Budget returns the gate's budget.
func (g *Gate) Budget() *Budget { return g.b }

// RetryAfter returns the whole seconds a refused client is told to wait (Retry-After), at
// least 1.
func (g *Gate) RetryAfter() int {
	if g == nil {
		return 1
	}
	return max(1, int(g.cfg.RetryAfter/time.Second))
}

// Admit reserves one transfer of kind for keys, waiting at most the gate's Wait (or until ctx
// ends). It returns an error wrapping ErrExhausted when there was no room in time (the caller
// answers 503 with Retry-After). Release the reservation when the transfer's buffers are gone.
// A nil Gate returns a nil Reservation, whose Release does nothing.
func (g *Gate) Admit(ctx context.Context, kind Kind, keys ...string) (*Reservation, error) {
	if g == nil {
		return nil, nil
	}
	if kind < 0 || kind >= numKinds {
		return nil, fmt.Errorf("membudget: unknown kind %d", kind)
	}
	// The wait is a timer of its own, tied to ctx's cancellation by AfterFunc rather than
	// derived from ctx: ctx is often a fasthttp RequestCtx, and a timer context derived from
	// it reads the request's values when it fires, racing with fasthttp's reset of the
	// request once the handler returned (docs/dependencies.md, fasthttp).
	wctx, cancel := context.WithTimeout(context.Background(), g.cfg.Wait)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	ctx = wctx
	if kind == Zip && g.zips != nil {
		select {
		case g.zips <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %d zips already streaming: %w", ErrExhausted, cap(g.zips), ctx.Err())
		}
	}
	r, err := g.b.Acquire(ctx, g.cfg.Costs[kind], keys...)
	if err != nil {
		if kind == Zip && g.zips != nil {
			<-g.zips
		}
		return nil, fmt.Errorf("admit %s: %w", kind, err)
	}
	if kind == Zip && g.zips != nil {
		r.after = func() { <-g.zips }
	}
	return r, nil
}
