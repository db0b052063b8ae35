package tus

import (
	"bytes"
	"fmt"
	"hash"
	"io"
	"time"
)

// bodyChunk is the handler's Chunk: it reads the request body stream, re-arming the
// connection's read deadline before each read (a deadline per read, not per body), hashes
// what it returns when a checksum was announced, and stops at the upload's length.
type bodyChunk struct {
	r        io.Reader
	deadline func(time.Time) error // nil: no per-read deadline
	timeout  time.Duration

	remaining int64     // bytes the upload can still take
	expect    int64     // the body's Content-Length, or -1 when unknown (chunked)
	read      int64     // bytes returned so far
	hash      hash.Hash // nil without checksum
	want      []byte    // the announced digest, with hash

	eof      bool  // the body ended cleanly
	overflow bool  // the body ran past remaining
	err      error // the first read error other than io.EOF
	verified bool  // Verify was called
}

// NewChunk returns the Chunk the handler would pass to Backend.Write for a body r that may
// carry at most remaining bytes, verified against sum when it is not nil. Backends use it
// in their own tests.
func NewChunk(r io.Reader, remaining int64, sum *Checksum) Chunk {
	return newBodyChunk(r, remaining, -1, sum, nil, 0)
}

func newBodyChunk(r io.Reader, remaining, expect int64, sum *Checksum, deadline func(time.Time) error, timeout time.Duration) *bodyChunk {
	c := &bodyChunk{r: r, remaining: remaining, expect: expect, deadline: deadline, timeout: timeout}
	if sum != nil {
		c.hash = sum.newHash()
		c.want = sum.Digest
	}
	return c
}

// Read implements Chunk.
func (c *bodyChunk) Read(p []byte) (int, error) {
	switch {
	case c.eof:
		return 0, io.EOF
	case c.overflow:
		return 0, ErrTooLarge
	case c.err != nil:
		return 0, c.err
	case len(p) == 0:
		return 0, nil
	}
	if c.remaining == 0 {
		// The upload is full: the body must end here. Probe for one more byte, which is
		// never returned.
		var one [1]byte
		n, err := c.next(one[:])
		if n > 0 {
			c.overflow = true
			return 0, ErrTooLarge
		}
		return 0, c.settle(err)
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.next(p)
	if n > 0 {
		c.remaining -= int64(n)
		c.read += int64(n)
		if c.hash != nil {
			c.hash.Write(p[:n])
		}
	}
	if err != nil {
		return n, c.settle(err)
	}
	return n, nil
}

// next reads from the body under a fresh deadline.
func (c *bodyChunk) next(p []byte) (int, error) {
	if c.deadline != nil && c.timeout > 0 {
		if err := c.deadline(time.Now().Add(c.timeout)); err != nil {
			return 0, fmt.Errorf("set read deadline: %w", err)
		}
	}
	return c.r.Read(p)
}

// settle records how reading ended and returns what Read reports.
func (c *bodyChunk) settle(err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF && c.expect >= 0 && c.read < c.expect {
		// The stream ended before its Content-Length: a cut, not an end.
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		c.eof = true
		return io.EOF
	}
	c.err = err
	return err
}

// Verify implements Chunk.
func (c *bodyChunk) Verify() error {
	c.verified = true
	switch {
	case c.overflow:
		return ErrTooLarge
	case c.hash == nil:
		return nil
	case !c.eof:
		return ErrIncomplete
	case !bytes.Equal(c.hash.Sum(nil), c.want):
		return ErrChecksumMismatch
	}
	return nil
}
