// Package checkgate holds the checks of a concurrent burst at a gate, so that a test sees how
// many of them started before any could finish: the measure of a limit that must hold under
// concurrency (issue 16 item 4). It is for tests; production code never imports it.
package checkgate

import (
	"sync/atomic"
	"testing"

	"valise/internal/poll"
)

// Gate counts the checks that pass it while armed and holds each until Open. Its zero value
// is not usable: make one with New. Safe for concurrent use.
type Gate struct {
	armed atomic.Bool
	runs  atomic.Int64 // checks that reached the gate while armed
	held  atomic.Int64 // checks waiting at the gate now
	open  chan struct{}
}

// New returns a gate, disarmed and closed.
func New() *Gate { return &Gate{open: make(chan struct{})} }

// Arm makes Pass count and hold the checks from now on.
func (g *Gate) Arm() { g.armed.Store(true) }

// Open lets every held check, and every later one, through. Call it once.
func (g *Gate) Open() { close(g.open) }

// Runs returns how many checks reached the gate while it was armed.
func (g *Gate) Runs() int64 { return g.runs.Load() }

// Held returns how many checks wait at the gate now.
func (g *Gate) Held() int64 { return g.held.Load() }

// Pass is the hook a check calls before it runs: while the gate is armed it counts the check
// and holds it until Open.
func (g *Gate) Pass() {
	if !g.armed.Load() {
		return
	}
	g.runs.Add(1)
	g.held.Add(1)
	<-g.open
	g.held.Add(-1)
}

// Poll waits until cond holds, failing t after a deadline that only guards against a hang: it
// is poll.Until, kept here for the burst tests that use the gate.
func Poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, what, cond)
}
