package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestScanRealClamd(t *testing.T) {
	c := realClamd(t)
	c.ChunkSize = 64 << 10 // so that EICAR can straddle chunks
	eicar := EICAR()
	for _, tc := range []struct {
		name string
		data []byte
		want Kind
		why  Reason
	}{
		{"clean text", []byte("hello, this is a harmless file\n"), KindClean, ReasonNone},
		{"empty stream", nil, KindClean, ReasonNone},
		{"clean random 600 KiB", randomBytes(600<<10, 1), KindClean, ReasonNone},
		{"eicar alone", eicar, KindInfected, ReasonNone},
		{"eicar with trailing newline", append(append([]byte{}, eicar...), '\n'), KindInfected, ReasonNone},
		{"eicar inside a larger stream", withEICAR(600<<10, 300<<10), KindInfected, ReasonNone},
		{"eicar straddling two chunks", withEICAR(300<<10, 64<<10-30), KindInfected, ReasonNone},
		{"oversize clean", randomBytes(2<<20, 2), KindNotScanned, ReasonTooLarge},
		{"oversize with eicar past the limit", withEICAR(2<<20, 3<<19), KindNotScanned, ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			v, err := c.Scan(ctx, bytes.NewReader(tc.data))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if v.Kind != tc.want || v.Reason != tc.why {
				t.Fatalf("verdict %v, want kind %v reason %v", v, tc.want, tc.why)
			}
			if v.Kind == KindInfected && !strings.HasPrefix(v.Signature, "Valise.Test.EICAR") {
				t.Fatalf("signature %q", v.Signature)
			}
		})
	}
}

func TestPingVersionRealClamd(t *testing.T) {
	c := realClamd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	v, err := c.Version(ctx)
	if err != nil || !strings.HasPrefix(v, "ClamAV ") {
		t.Fatalf("Version = %q, %v", v, err)
	}
}

// failingReader yields data, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

var errDisk = errors.New("disk read error")

func TestScanSourceErrorRealClamd(t *testing.T) {
	c := realClamd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The truncated stream is clean so far: a terminator would make clamd say OK.
	v, err := c.Scan(ctx, &failingReader{data: randomBytes(200<<10, 3), err: errDisk})
	if !errors.Is(err, ErrSource) || !errors.Is(err, errDisk) {
		t.Fatalf("Scan error %v, want ErrSource and the source's error", err)
	}
	if v != (Verdict{}) {
		t.Fatalf("verdict %v with a source error, want none", v)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("clamd unwell after an aborted stream: %v", err)
	}
}

// parseInstream parses what a client sent: the command and the chunks, and whether the
// zero-length terminator came.
func parseInstream(t *testing.T, b []byte) (chunks [][]byte, terminated bool) {
	t.Helper()
	rest, ok := bytes.CutPrefix(b, []byte("zINSTREAM\x00"))
	if !ok {
		t.Fatalf("stream does not start with zINSTREAM\\0: %q", b[:min(len(b), 20)])
	}
	for len(rest) >= 4 {
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if n == 0 {
			if len(rest) != 0 {
				t.Fatalf("%d bytes after the terminator", len(rest))
			}
			return chunks, true
		}
		if int(n) > len(rest) {
			t.Fatalf("chunk of %d bytes cut at %d", n, len(rest))
		}
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		t.Fatalf("%d stray bytes at the end", len(rest))
	}
	return chunks, false
}

func TestScanSourceErrorSendsNoTerminator(t *testing.T) {
	got := make(chan []byte, 1)
	_, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
		b, _ := io.ReadAll(conn) // until the client closes
		got <- b
		_, _ = conn.Write([]byte("stream: OK\x00"))
	})
	c.ChunkSize = 1000
	data := randomBytes(3500, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, err := c.Scan(ctx, &failingReader{data: data, err: errDisk})
	if !errors.Is(err, ErrSource) || !errors.Is(err, errDisk) || v != (Verdict{}) {
		t.Fatalf("Scan = %v, %v; want no verdict and the source error", v, err)
	}
	chunks, terminated := parseInstream(t, <-got)
	if terminated {
		t.Fatal("the zero-length terminator was sent after a source error")
	}
	if sent := bytes.Join(chunks, nil); !bytes.Equal(sent, data) {
		t.Fatalf("sent %d bytes, want the %d read before the error", len(sent), len(data))
	}
}

func TestScanSendsWellFormedStream(t *testing.T) {
	got := make(chan []byte, 1)
	_, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
		var b []byte
		buf := make([]byte, 4096)
		for !bytes.HasSuffix(b, []byte{0, 0, 0, 0}) || len(b) < 14 {
			n, err := conn.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- b
		_, _ = conn.Write([]byte("stream: Some.Sig FOUND\x00"))
	})
	c.ChunkSize = 777
	data := randomBytes(5000, 5)
	v, err := c.Scan(context.Background(), bytes.NewReader(data))
	if err != nil || v != Infected("Some.Sig") {
		t.Fatalf("Scan = %v, %v", v, err)
	}
	chunks, terminated := parseInstream(t, <-got)
	if !terminated || !bytes.Equal(bytes.Join(chunks, nil), data) {
		t.Fatalf("terminated %v, %d chunks", terminated, len(chunks))
	}
}

func TestScanScannerDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *Client
	}{
		{"unix socket missing", &Client{Network: "unix", Addr: filepath.Join(t.TempDir(), "none.sock")}},
		{"tcp connection refused", func() *Client {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return &Client{Network: "tcp", Addr: addr}
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.c.Scan(context.Background(), strings.NewReader("x"))
			if !errors.Is(err, ErrScannerDown) {
				t.Fatalf("Scan error %v, want ErrScannerDown", err)
			}
			if v != NotScanned(ReasonScannerDown) {
				t.Fatalf("verdict %v", v)
			}
			if err := tc.c.Ping(context.Background()); !errors.Is(err, ErrScannerDown) {
				t.Fatalf("Ping error %v", err)
			}
		})
	}
}

func TestScanHangingServer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(net.Conn, <-chan struct{})
		size   int
	}{
		// Reads everything and never answers: the wait for the verdict hangs.
		{"reads and never answers", func(c net.Conn, _ <-chan struct{}) { _, _ = io.Copy(io.Discard, c) }, 100 << 10},
		// Never reads: the socket buffers fill and a write hangs.
		{"never reads", func(_ net.Conn, quit <-chan struct{}) { <-quit }, 64 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			f, c := newFakeClamd(t, tc.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			v, err := c.Scan(ctx, bytes.NewReader(make([]byte, tc.size)))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Scan error %v, want the context deadline", err)
			}
			if v != (Verdict{}) {
				t.Fatalf("verdict %v from a hanging clamd", v)
			}
			f.Close()
			settleGoroutines(t, before)
		})
	}
}

func TestScanCancelledWhileHanging(t *testing.T) {
	before := runtime.NumGoroutine()
	f, c := newFakeClamd(t, func(c net.Conn, _ <-chan struct{}) { _, _ = io.Copy(io.Discard, c) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Scan(ctx, strings.NewReader("data"))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan error %v, want context.Canceled", err)
	}
	f.Close()
	settleGoroutines(t, before)
}

func TestScanServerClosesMidStream(t *testing.T) {
	_, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
		_, _ = io.CopyN(io.Discard, conn, 10_000)
		// Close with unread data: the client sees a reset or a broken pipe, and no reply.
	})
	v, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 8<<20)))
	if err == nil || v != (Verdict{}) {
		t.Fatalf("Scan = %v, %v; want an error and no verdict", v, err)
	}
	if !errors.Is(err, ErrNoReply) {
		t.Fatalf("Scan error %v, want ErrNoReply", err)
	}
}

func TestScanReplyAfterBrokenPipe(t *testing.T) {
	// As clamd does past StreamMaxLength: answer, then close while the client still sends.
	_, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
		_, _ = io.CopyN(io.Discard, conn, 100_000)
		_, _ = conn.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
	})
	v, err := c.Scan(context.Background(), bytes.NewReader(make([]byte, 16<<20)))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if v != NotScanned(ReasonTooLarge) {
		t.Fatalf("verdict %v, want not scanned (too large)", v)
	}
}

func TestScanBadReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
	}{
		{"error line", "stream: Can't allocate memory ERROR\x00"},
		{"garbage", "hello\x00"},
		{"found without name", "stream:  FOUND\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
				buf := make([]byte, 4096)
				var b []byte
				for !bytes.HasSuffix(b, []byte{0, 0, 0, 0}) || len(b) < 14 {
					n, err := conn.Read(buf)
					b = append(b, buf[:n]...)
					if err != nil {
						return
					}
				}
				_, _ = conn.Write([]byte(tc.reply))
			})
			v, err := c.Scan(context.Background(), strings.NewReader("abc"))
			if !errors.Is(err, ErrBadReply) || v != (Verdict{}) {
				t.Fatalf("Scan = %v, %v; want ErrBadReply", v, err)
			}
		})
	}
}
