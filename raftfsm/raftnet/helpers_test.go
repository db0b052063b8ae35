package raftnet_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
)

// testLogger routes logs at or above level to the test's output until the test ends.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func newMux(t testing.TB, ca *clustertest.CA, id, addr string) *clusternet.Mux {
	t.Helper()
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, ca.NodeCert(t, id), ca.Pool(), addr
	m, err := clusternet.Listen(cfg, testLogger(t, slog.LevelWarn))
	if err != nil {
		t.Fatalf("listen %s: %v", id, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// poll calls cond until it returns true or the deadline passes.
func poll(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an event
	}
}
