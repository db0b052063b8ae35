package scan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"valise/internal/poll"
	"valise/internal/testlog"
)

// testLimit is the StreamMaxLength of the test package's clamd, so oversize streams are cheap.
const testLimit = 1 << 20

// shared is the clamd the whole test package uses, started once in TestMain.
var shared struct {
	daemon *Daemon
	err    error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "vscan")
		if err != nil {
			shared.err = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		cfg := DefaultDaemonConfig()
		cfg.Dir = dir
		cfg.StreamMaxLength = testLimit
		cfg.MaxThreads = 4
		cfg.StartTimeout = 3 * time.Minute
		d, err := NewDaemon(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			shared.err = err
			return m.Run()
		}
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := d.Start(ctx); err != nil {
			shared.err = err
			return m.Run()
		}
		shared.daemon = d
		return m.Run()
	}()
	os.Exit(code)
}

// realClamd returns a client of the package's clamd. Without clamd the test is skipped, or
// fails when VALISE_REQUIRE_ALL=1.
func realClamd(t *testing.T) *Client {
	t.Helper()
	if shared.daemon == nil {
		missing(t, fmt.Sprintf("no clamd: %v (install clamav-daemon: make test does)", shared.err))
	}
	return shared.daemon.Client()
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func testLogger(t *testing.T) *slog.Logger { return testLoggerTB(t) }

// testLoggerTB routes logs at Info and above to the test's output.
func testLoggerTB(tb testing.TB) *slog.Logger {
	return testlog.New(tb, slog.LevelInfo)
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// withEICAR returns n random bytes with the EICAR string written at off.
func withEICAR(n, off int) []byte {
	b := randomBytes(n, uint64(off))
	copy(b[off:], EICAR())
	return b
}

// fakeClamd is a TCP server on 127.0.0.1 whose connections run handle; Close (at cleanup)
// closes quit, the listener and every connection, and waits for the handlers.
type fakeClamd struct {
	ln   net.Listener
	wg   sync.WaitGroup
	quit chan struct{} // closed by Close: handlers that block wait on it
	once sync.Once

	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func newFakeClamd(t *testing.T, handle func(conn net.Conn, quit <-chan struct{})) (*fakeClamd, *Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{ln: ln, quit: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				handle(c, f.quit)
			}()
		}
	}()
	t.Cleanup(f.Close)
	return f, &Client{Network: "tcp", Addr: ln.Addr().String(), Timeout: 5 * time.Second, ReplyTimeout: 10 * time.Second}
}

func (f *fakeClamd) Close() { f.once.Do(f.close) }

func (f *fakeClamd) close() {
	close(f.quit)
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// settleGoroutines waits until the goroutine count falls back to at most want.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	poll.UntilNil(t, fmt.Sprintf("at most %d goroutines", want), func() error {
		if runtime.NumGoroutine() <= want {
			return nil
		}
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		return fmt.Errorf("goroutine leak: %d goroutines\n%s", runtime.NumGoroutine(), buf)
	})

}
