package scan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// opener serves windows of data, counting them.
func opener(data []byte, opened *int) func(off, n int64) (io.ReadCloser, error) {
	return func(off, n int64) (io.ReadCloser, error) {
		*opened++
		return io.NopCloser(bytes.NewReader(data[off : off+n])), nil
	}
}

func TestScanWindowsRealClamd(t *testing.T) {
	c := realClamd(t)
	const window, overlap = 256 << 10, 4 << 10
	for _, tc := range []struct {
		name    string
		data    []byte
		want    Kind
		windows int
	}{
		{"clean across windows", randomBytes(900<<10, 10), KindCleanInWindows, 4},
		{"clean file of one window", randomBytes(100<<10, 11), KindClean, 1},
		{"file beyond the stream limit, clean", randomBytes(3<<20, 12), KindCleanInWindows, 13},
		{"eicar in the first window", withEICAR(900<<10, 1000), KindInfected, 1},
		{"eicar inside a later window", withEICAR(900<<10, 700<<10), KindInfected, 3},
		// Windows start at 0, 252 KiB, 504 KiB…: EICAR over the end of window 0 lies whole
		// inside window 1, which starts overlap bytes earlier.
		{"eicar straddling a window boundary", withEICAR(900<<10, window-30), KindInfected, 2},
		{"eicar beyond the stream limit", withEICAR(3<<20, 5<<19), KindInfected, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			opened := 0
			v, err := c.ScanWindows(ctx, opener(tc.data, &opened), int64(len(tc.data)), window, overlap)
			if err != nil {
				t.Fatalf("ScanWindows: %v", err)
			}
			if v.Kind != tc.want {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if opened != tc.windows {
				t.Fatalf("%d windows scanned, want %d", opened, tc.windows)
			}
		})
	}
}

func TestScanWindowsErrors(t *testing.T) {
	c := realClamd(t)
	data := randomBytes(600<<10, 13)
	t.Run("window not larger than overlap", func(t *testing.T) {
		opened := 0
		_, err := c.ScanWindows(context.Background(), opener(data, &opened), int64(len(data)), 4096, 4096)
		if !errors.Is(err, ErrBadWindow) || opened != 0 {
			t.Fatalf("err %v after %d windows, want ErrBadWindow at once", err, opened)
		}
	})
	t.Run("window beyond what clamd scans", func(t *testing.T) {
		opened := 0
		_, err := c.ScanWindows(context.Background(), opener(data, &opened), int64(len(data)), MaxScannable+1, 0)
		if !errors.Is(err, ErrBadWindow) {
			t.Fatalf("err %v, want ErrBadWindow", err)
		}
	})
	t.Run("short window is never clean", func(t *testing.T) {
		short := func(off, n int64) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data[off : off+n/2])), nil
		}
		v, err := c.ScanWindows(context.Background(), short, int64(len(data)), 256<<10, 4<<10)
		if !errors.Is(err, ErrSource) || v.IsClean() {
			t.Fatalf("ScanWindows = %v, %v; want ErrSource", v, err)
		}
	})
	t.Run("open fails", func(t *testing.T) {
		failing := func(off, n int64) (io.ReadCloser, error) { return nil, errDisk }
		v, err := c.ScanWindows(context.Background(), failing, int64(len(data)), 256<<10, 4<<10)
		if !errors.Is(err, errDisk) || v.IsClean() {
			t.Fatalf("ScanWindows = %v, %v; want the open error", v, err)
		}
	})
}
