package scan

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// writeAll writes data into w in pieces of size n, as an upload does.
func writeAll(t *testing.T, w *StreamScanner, data []byte, n int) {
	t.Helper()
	for len(data) > 0 {
		k := min(n, len(data))
		if m, err := w.Write(data[:k]); m != k || err != nil {
			t.Fatalf("Write = %d, %v", m, err)
		}
		data = data[k:]
	}
}

func TestStreamScannerRealClamd(t *testing.T) {
	c := realClamd(t)
	for _, tc := range []struct {
		name string
		data []byte
		want Verdict
	}{
		{"clean", randomBytes(700<<10, 6), Clean()},
		{"eicar in the middle", withEICAR(700<<10, 400<<10), Infected("Valise.Test.EICAR.UNOFFICIAL")},
		{"empty", nil, Clean()},
		{"oversize", randomBytes(3<<20, 7), NotScanned(ReasonTooLarge)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cc := *c
			cc.TeeBuffer = 8 << 20 // clamd on loopback keeps up with this
			s := NewStreamScanner(ctx, &cc)
			defer s.Close()
			writeAll(t, s, tc.data, 64<<10)
			v, rescan, err := s.Finish(ctx)
			if tc.want == NotScanned(ReasonTooLarge) && rescan && err == nil {
				return // gave up before clamd's answer came: also never clean
			}
			if err != nil || rescan {
				t.Fatalf("Finish = %v, rescan %v, %v", v, rescan, err)
			}
			want := tc.want
			want.TestSignaturesOnly = want.IsClean() && c.TestSignaturesOnly
			if v != want {
				t.Fatalf("verdict %v, want %v", v, want)
			}
		})
	}
}

func TestStreamScannerSlowScannerNeverBlocksWriter(t *testing.T) {
	before := runtime.NumGoroutine()
	// A clamd that accepts and never reads: the tee must give up, not block the upload.
	f, c := newFakeClamd(t, func(_ net.Conn, quit <-chan struct{}) { <-quit })
	c.TeeBuffer = 256 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := NewStreamScanner(ctx, c)
	wrote := make(chan struct{})
	data := randomBytes(1<<20, 8)
	go func() {
		defer close(wrote)
		for range 32 { // 32 MiB, far beyond the buffer and the socket buffers
			writeAll(t, s, data, 64<<10)
		}
	}()
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("the upload's writes blocked behind a slow clamd")
	}
	if !s.GaveUp() {
		t.Fatal("the tee did not give up on a clamd that reads nothing")
	}
	v, rescan, err := s.Finish(ctx)
	if !rescan || err != nil || v != (Verdict{}) {
		t.Fatalf("Finish = %v, rescan %v, %v; want a rescan and no error", v, rescan, err)
	}
	f.Close()
	settleGoroutines(t, before)
}

func TestStreamScannerScannerDown(t *testing.T) {
	c := &Client{Network: "unix", Addr: filepath.Join(t.TempDir(), "none.sock")}
	ctx := context.Background()
	s := NewStreamScanner(ctx, c)
	writeAll(t, s, randomBytes(1<<20, 9), 32<<10)
	v, rescan, err := s.Finish(ctx)
	if !rescan || !errors.Is(err, ErrScannerDown) || v != (Verdict{}) {
		t.Fatalf("Finish = %v, rescan %v, %v; want rescan and ErrScannerDown", v, rescan, err)
	}
}

func TestStreamScannerFinishDeadline(t *testing.T) {
	before := runtime.NumGoroutine()
	// Reads everything, never answers.
	f, c := newFakeClamd(t, func(conn net.Conn, _ <-chan struct{}) {
		buf := make([]byte, 4096)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	})
	s := NewStreamScanner(context.Background(), c)
	writeAll(t, s, bytes.Repeat([]byte("a"), 100<<10), 10<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, rescan, err := s.Finish(ctx)
	if !rescan || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Finish rescan %v, %v; want rescan and the deadline", rescan, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	settleGoroutines(t, before)
}
