package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// errGaveUp is the source error that ends a live scan the tee gave up: Scan then closes the
// connection without the terminator, so clamd scans nothing.
var errGaveUp = errors.New("scan: live scan given up: clamd could not keep up")

// errFinishAborted ends a live scan whose Finish or Close came before clamd read everything.
var errFinishAborted = errors.New("scan: live scan aborted")

// StreamScanner scans an upload while it streams. The upload writes each piece it stores into
// the StreamScanner, which copies it into a bounded buffer that a goroutine feeds to clamd.
// Write never blocks and never fails: when the buffer is full because clamd lags behind, or
// clamd failed, the StreamScanner gives up the live scan and Finish reports that the file must
// be rescanned from its stored blocks. An upload is never slowed by its scan.
//
// Write is for one goroutine (the upload's); Finish and Close may be called from any one.
type StreamScanner struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the scan goroutine returned

	mu sync.Mutex // guards the fields below
	// buf is a ring of fixed size: n bytes from r (mod len(buf)) wait for clamd.
	buf  []byte
	r, n int
	// eof is set by Finish: the stream is complete.
	eof bool
	// stopped is set when the live scan cannot give a verdict any more (gave up, aborted,
	// scan over); later writes are dropped.
	stopped error
	// written counts the bytes given to Write.
	written int64

	ready chan struct{} // capacity 1: a signal that data, eof or stopped arrived

	// Set by the scan goroutine before done closes.
	verdict Verdict
	err     error
}

// NewStreamScanner starts a live scan through c and returns the writer the upload path writes
// into. The scan runs until Finish or Close, or until ctx ends. The caller must call Finish or
// Close, which wait for the scan goroutine.
func NewStreamScanner(ctx context.Context, c *Client) *StreamScanner {
	size := c.TeeBuffer
	if size <= 0 {
		size = DefaultTeeBuffer
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &StreamScanner{
		cancel: cancel,
		done:   make(chan struct{}),
		buf:    make([]byte, size),
		ready:  make(chan struct{}, 1),
	}
	go func() {
		defer close(s.done)
		v, err := c.Scan(ctx, &teeReader{s: s, ctx: ctx})
		s.mu.Lock()
		s.verdict, s.err = v, err
		if s.stopped == nil {
			s.stopped = errors.New("scan: live scan over")
		}
		s.mu.Unlock()
	}()
	return s
}

func (s *StreamScanner) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Write copies p into the scan buffer, or drops it when the live scan was given up. It never
// blocks on clamd and always returns len(p), nil.
func (s *StreamScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.written += int64(len(p))
	if s.stopped != nil || s.eof {
		s.mu.Unlock()
		return len(p), nil
	}
	if len(p) > len(s.buf)-s.n {
		s.stopped = errGaveUp
		s.mu.Unlock()
		s.signal()
		return len(p), nil
	}
	w := (s.r + s.n) % len(s.buf)
	k := copy(s.buf[w:], p)
	copy(s.buf, p[k:])
	s.n += len(p)
	s.mu.Unlock()
	s.signal()
	return len(p), nil
}

// GaveUp reports whether the live scan was given up (the file will need a rescan).
func (s *StreamScanner) GaveUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Is(s.stopped, errGaveUp)
}

// Finish marks the end of the stream and waits for clamd's verdict until ctx ends.
//
// It returns the verdict and needsRescan false when the live scan covered every byte written.
// needsRescan is true when it did not: the tee gave up (err nil), clamd failed (err says how),
// or ctx ended first (err is ctx's error). The verdict is only meaningful when needsRescan is
// false. Finish waits for the scan goroutine in every case.
func (s *StreamScanner) Finish(ctx context.Context) (v Verdict, needsRescan bool, err error) {
	s.mu.Lock()
	s.eof = true
	s.mu.Unlock()
	s.signal()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.abort()
		return Verdict{}, true, fmt.Errorf("finish live scan: %w", ctx.Err())
	}
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(s.stopped, errGaveUp):
		return Verdict{}, true, nil
	case s.err != nil:
		return Verdict{}, true, fmt.Errorf("finish live scan: %w", s.err)
	}
	return s.verdict, false, nil
}

// Close abandons the live scan (the upload was cancelled) and waits for its goroutine. It is
// safe after Finish.
func (s *StreamScanner) Close() error {
	s.abort()
	return nil
}

func (s *StreamScanner) abort() {
	s.mu.Lock()
	if s.stopped == nil {
		s.stopped = errFinishAborted
	}
	s.mu.Unlock()
	s.signal()
	s.cancel()
	<-s.done
}

// teeReader is the scan goroutine's view of the ring.
type teeReader struct {
	s   *StreamScanner
	ctx context.Context
}

func (t *teeReader) Read(p []byte) (int, error) {
	s := t.s
	for {
		s.mu.Lock()
		if s.stopped != nil {
			err := s.stopped
			s.mu.Unlock()
			return 0, err
		}
		if s.n > 0 {
			k := min(len(p), s.n, len(s.buf)-s.r)
			copy(p, s.buf[s.r:s.r+k])
			s.r = (s.r + k) % len(s.buf)
			s.n -= k
			s.mu.Unlock()
			return k, nil
		}
		eof := s.eof
		s.mu.Unlock()
		if eof {
			return 0, io.EOF
		}
		select {
		case <-s.ready:
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		}
	}
}
