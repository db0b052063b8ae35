// Package testlog routes a test's logs to its output (docs/style.md §7; issue 17 item 5). It is
// for tests; production code never imports it.
package testlog

import (
	"log/slog"
	"sync"
	"testing"
)

// New returns a text logger writing the records at or above level to tb's output, until tb
// and its cleanups end: a record logged later, by a goroutine that outlives the test, is
// dropped, since testing forbids writing to a finished test.
func New(tb testing.TB, level slog.Level) *slog.Logger {
	w := &writer{tb: tb}
	tb.Cleanup(w.close) // registered before what the logger serves, so it runs after
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type writer struct {
	tb   testing.TB
	mu   sync.Mutex // guards done, and orders writes with close
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Output().Write(p)
	}
	return len(p), nil
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
