// Package scantest starts a real private clamd for the tests of the packages that scan, as
// ../shared/recipes/clamd-offline.md describes (the built-in EICAR-only test database).
package scantest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"valise/scan"
)

// StartDaemon starts clamd through scan's supervisor in t.TempDir(), with maxThreads scan
// threads, and stops it at the test's end. Without clamd the test is skipped, or fails when
// VALISE_REQUIRE_ALL=1 (as make test sets): a missing real part never passes silently there.
func StartDaemon(t testing.TB, maxThreads int) *scan.Daemon {
	t.Helper()
	cfg := scan.DefaultDaemonConfig()
	cfg.Dir = t.TempDir()
	cfg.StartTimeout = 30 * time.Second
	cfg.MaxThreads = maxThreads
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := scan.NewDaemon(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		why := fmt.Sprintf("no clamd: %v (install clamav-daemon: make test does)", err)
		if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return d
}
