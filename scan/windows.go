package scan

import (
	"context"
	"fmt"
	"io"
)

// Window defaults for files beyond clamd's stream limit.
const (
	// DefaultWindow is the size of each scanned window.
	DefaultWindow = 1 << 30
	// DefaultOverlap is how much consecutive windows share, so that a body signature that
	// straddles a window boundary lies whole inside one window. It must exceed the longest
	// signature that matters.
	DefaultOverlap = 1 << 20
)

// ScanWindows scans a file of size bytes as overlapping windows: window bytes each (default
// DefaultWindow when 0 or less), each starting overlap bytes (default DefaultOverlap when 0 or
// less) before the previous one ended. open returns a reader of the n bytes at off; ScanWindows
// closes it.
//
// The first window whose verdict is Infected or NotScanned ends the scan with that verdict.
// When every window is clean the verdict is CleanInWindows, or Clean when one window covered
// the whole file. Only body signatures can match inside a window: whole-file formats (archives,
// executables) beyond the limit are not parsed, which is why the verdict says "in windows".
// Errors are those of Scan, wrapped with the window's offset, and ErrBadWindow for a window not
// larger than its overlap or larger than MaxScannable.
func (c *Client) ScanWindows(ctx context.Context, open func(off, n int64) (io.ReadCloser, error), size, window, overlap int64) (Verdict, error) {
	if window <= 0 {
		window = DefaultWindow
	}
	if overlap <= 0 {
		overlap = DefaultOverlap
	}
	if window <= overlap || window > MaxScannable {
		return Verdict{}, fmt.Errorf("scan windows of %d bytes overlapping by %d: %w", window, overlap, ErrBadWindow)
	}
	if size < 0 {
		return Verdict{}, fmt.Errorf("scan windows: negative size %d", size)
	}
	windows := 0
	for off := int64(0); ; off += window - overlap {
		n := min(window, size-off)
		v, err := c.scanWindow(ctx, open, off, n)
		if err != nil {
			return v, err
		}
		windows++
		if !v.IsClean() {
			return v, nil
		}
		if off+n >= size {
			break
		}
	}
	if windows == 1 {
		return c.mark(Clean()), nil
	}
	return c.mark(CleanInWindows()), nil
}

func (c *Client) scanWindow(ctx context.Context, open func(off, n int64) (io.ReadCloser, error), off, n int64) (Verdict, error) {
	rc, err := open(off, n)
	if err != nil {
		return Verdict{}, fmt.Errorf("scan window at %d: open: %w: %w", off, ErrSource, err)
	}
	defer rc.Close()
	lr := &exactReader{r: rc, left: n}
	v, err := c.Scan(ctx, lr)
	if err != nil {
		return v, fmt.Errorf("scan window at %d: %w", off, err)
	}
	return v, nil
}

// exactReader yields exactly left bytes of r: a short source is an error, so a window that
// could not be read whole is never called clean.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		return n, io.EOF
	}
	return n, err
}
