package raftnet_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/testlog"
)

// testLogger routes logs at or above level to the test's output until the test ends.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	return testlog.New(t, level)
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
