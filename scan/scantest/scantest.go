// Package scantest starts a real private clamd for the tests of the packages that scan, with
// the built-in EICAR-only test database (docs/testing.md, "An offline clamd").
//
// A test package shares one daemon for its whole run: declare a Shared in the package's test
// files, fetch the daemon with Daemon(t) in each test that scans, and Close it in TestMain.
// Starting clamd once per package instead of once per test keeps the suite's time flat as
// tests are added (issue 16 item 1).
package scantest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"valise/internal/testlog"
	"valise/scan"
)

// startTimeout bounds one clamd start: a hang guard, generous enough for a slow machine.
const startTimeout = 3 * time.Minute

// Shared is one clamd for a whole test binary, started on first use. Its zero value is not
// usable: make one with NewShared. Safe for concurrent use by parallel tests.
type Shared struct {
	threads int
	once    sync.Once
	dir     string       // set by once
	daemon  *scan.Daemon // set by once; nil if the start failed
	err     error        // set by once: why daemon is nil
}

// NewShared returns a Shared whose clamd, once started, runs maxThreads scan threads.
func NewShared(maxThreads int) *Shared { return &Shared{threads: maxThreads} }

// Daemon returns the package's clamd, starting it on the first call. Without clamd the test
// is skipped, or fails when VALISE_REQUIRE_ALL=1 (as make test sets): a missing real part
// never passes silently there. Tests must not stop the returned daemon.
func (s *Shared) Daemon(t testing.TB) *scan.Daemon {
	t.Helper()
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "vclamd")
		if s.err != nil {
			return
		}
		s.daemon, s.err = start(s.dir, s.threads, slog.New(slog.DiscardHandler))
	})
	if s.daemon == nil {
		missing(t, s.err)
	}
	return s.daemon
}

// Close stops the clamd if it was started and removes its directory. Call it from TestMain
// after m.Run.
func (s *Shared) Close() {
	if s.daemon != nil {
		s.daemon.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// StartDaemon starts a clamd of the test's own in t.TempDir(), with maxThreads scan threads,
// and stops it at the test's end. Prefer a Shared; this is for a test that must own its
// daemon (to stop or restart it).
func StartDaemon(t testing.TB, maxThreads int) *scan.Daemon {
	t.Helper()
	logger := testlog.New(t, slog.LevelWarn)
	d, err := start(t.TempDir(), maxThreads, logger)
	if err != nil {
		missing(t, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// start runs a clamd in dir and waits until it answers.
func start(dir string, maxThreads int, logger *slog.Logger) (*scan.Daemon, error) {
	cfg := scan.DefaultDaemonConfig()
	cfg.Dir = dir
	cfg.StartTimeout = startTimeout
	cfg.MaxThreads = maxThreads
	d, err := scan.NewDaemon(cfg, logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+30*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// missing skips t, or fails it under VALISE_REQUIRE_ALL=1, because clamd could not start.
func missing(t testing.TB, err error) {
	t.Helper()
	why := fmt.Sprintf("no clamd: %v (install clamav-daemon: make test does)", err)
	if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
