// Package scan is Valise's antivirus: its own client for clamd's INSTREAM protocol, typed
// verdicts, a non-blocking tee that scans an upload while it streams, the overlapping-window
// scan of files beyond clamd's stream limit, and the supervisor of the node's private clamd.
//
// It uses the standard library only. The clamd protocol is small: "zINSTREAM\x00", then chunks
// each led by a 4-byte big-endian length, a zero length to end, and one reply up to a NUL.
// The traps it guards against (docs/dependencies.md, trap 7): after a source read error the
// connection is closed without the terminator, so clamd never scans a truncated stream and
// calls it clean; the reply is read even after a failed write, because clamd answers
// "INSTREAM size limit exceeded. ERROR" and closes; a stream past the limit is "not scanned
// (too large)", never clean.
package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrScannerDown is returned (wrapped) when clamd cannot be reached: the dial failed.
	// Scan then also returns NotScanned(ReasonScannerDown).
	ErrScannerDown = errors.New("scan: scanner down")

	// ErrSource is returned (wrapped, together with the source's own error) by Scan when
	// reading the stream to scan failed. No verdict comes with it, and no terminator was
	// sent: clamd scanned nothing.
	ErrSource = errors.New("scan: reading the source")

	// ErrBadReply is returned (wrapped) when clamd answered something that is no verdict:
	// an ERROR line other than the size limit, or an unknown line.
	ErrBadReply = errors.New("scan: unexpected reply from clamd")

	// ErrNoReply is returned (wrapped) when clamd closed the connection without replying,
	// for example when it died or closed mid-stream.
	ErrNoReply = errors.New("scan: no reply from clamd")

	// ErrBadCode is returned (wrapped) by ParseKind and ParseReason for an unknown code.
	ErrBadCode = errors.New("scan: unknown code")

	// ErrBadWindow is returned by ScanWindows for a window that is not larger than its
	// overlap, or larger than MaxScannable.
	ErrBadWindow = errors.New("scan: invalid window")
)

// Limits of clamd, as measured with ClamAV 1.4.6.
const (
	// StreamLimit is what the Daemon configures as StreamMaxLength, MaxFileSize and
	// MaxScanSize: 2 GiB − 1. clamd accepts larger values (4000M and more) but libclamav
	// cannot scan a file past 2 GiB − 1 and says so at start.
	StreamLimit = 2147483647
	// MaxScannable is the largest stream that gets a real verdict: libclamav clamps its file
	// size limit to 2147483645 bytes ("File size limit set to 2147483645 bytes"), whatever
	// MaxFileSize says. ScanWindows never uses a larger window.
	MaxScannable = 2147483645
)

// Client defaults.
const (
	// DefaultIOTimeout bounds the dial and each write to clamd.
	DefaultIOTimeout = 30 * time.Second
	// DefaultReplyTimeout bounds the wait for the verdict after the last chunk: clamd scans
	// the whole stream then, up to 2 GiB.
	DefaultReplyTimeout = 10 * time.Minute
	// DefaultChunkSize is the size of the chunks sent to clamd.
	DefaultChunkSize = 256 << 10
	// DefaultTeeBuffer is how many bytes a StreamScanner holds for a clamd that lags behind
	// before it gives up the live scan.
	DefaultTeeBuffer = 16 << 20
	// maxReply bounds a reply line; clamd's are short.
	maxReply = 4096
)

// Client talks to one clamd. The zero value is not usable: set Network and Addr. A Client is
// safe for concurrent use; each call opens its own connection (clamd serves one command per
// connection without IDSESSION). Fields are read at each call and must not change meanwhile.
type Client struct {
	// Network is "unix" or "tcp".
	Network string
	// Addr is the socket path or host:port.
	Addr string
	// Timeout bounds the dial and each write (default DefaultIOTimeout). A context deadline
	// that comes sooner wins.
	Timeout time.Duration
	// ReplyTimeout bounds the wait for a verdict after the stream was sent (default
	// DefaultReplyTimeout), and the wait for a PING or VERSION reply (then capped by Timeout).
	ReplyTimeout time.Duration
	// ChunkSize is the chunk size sent to clamd (default DefaultChunkSize).
	ChunkSize int
	// TeeBuffer is the bound of a StreamScanner's buffer (default DefaultTeeBuffer).
	TeeBuffer int
	// TestSignaturesOnly says the clamd has only the built-in test signatures loaded (no
	// official database): the clean verdicts of Scan, ScanWindows and StreamScanner then
	// carry Verdict.TestSignaturesOnly. Daemon.Client sets it from the database it found.
	TestSignaturesOnly bool
}

// mark sets Verdict.TestSignaturesOnly on a clean verdict of a client with test signatures
// only.
func (c *Client) mark(v Verdict) Verdict {
	if c.TestSignaturesOnly && v.IsClean() {
		v.TestSignaturesOnly = true
	}
	return v
}

func (c *Client) ioTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultIOTimeout
}

func (c *Client) replyTimeout() time.Duration {
	if c.ReplyTimeout > 0 {
		return c.ReplyTimeout
	}
	return DefaultReplyTimeout
}

func (c *Client) chunkSize() int {
	if c.ChunkSize > 0 {
		return c.ChunkSize
	}
	return DefaultChunkSize
}

// conn is one connection to clamd with deadlines that follow both the per-I/O timeouts and
// the context: cancelling the context cuts any blocked read or write at once.
type conn struct {
	net.Conn
	ctx  context.Context
	stop func() bool
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: c.ioTimeout()}
	nc, err := d.DialContext(ctx, c.Network, c.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("dial clamd %s %s: %w: %w", c.Network, c.Addr, ErrScannerDown, err)
	}
	cn := &conn{Conn: nc, ctx: ctx}
	// A deadline in the past unblocks every pending read and write; no goroutine waits.
	cn.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	return cn, nil
}

// deadline sets the connection deadline to now+d, or the context's deadline if sooner.
func (cn *conn) deadline(d time.Duration) {
	t := time.Now().Add(d)
	if cd, ok := cn.ctx.Deadline(); ok && cd.Before(t) {
		t = cd
	}
	if cn.ctx.Err() != nil {
		t = time.Unix(1, 0)
	}
	_ = cn.SetDeadline(t)
}

func (cn *conn) close() {
	cn.stop()
	_ = cn.Conn.Close()
}

// ctxErr returns the context's error in place of err when the context ended, since a
// cancelled context shows up as an I/O timeout on the connection. A timeout at the context's
// deadline counts as the deadline even if the context's timer has not fired yet.
func (cn *conn) ctxErr(err error) error {
	if cerr := cn.ended(); cerr != nil {
		return cerr
	}
	return err
}

// ended returns the context's error, or context.DeadlineExceeded once its deadline passed.
func (cn *conn) ended() error {
	if err := cn.ctx.Err(); err != nil {
		return err
	}
	if d, ok := cn.ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// readReply reads up to the first NUL (or EOF). It returns the bytes received even when the
// read ended with an error such as a connection reset after the reply arrived.
func (cn *conn) readReply(timeout time.Duration) ([]byte, error) {
	cn.deadline(timeout)
	var reply []byte
	buf := make([]byte, 512)
	for {
		n, err := cn.Read(buf)
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return append(reply, buf[:i]...), nil
		}
		reply = append(reply, buf[:n]...)
		if len(reply) > maxReply {
			return reply[:maxReply], fmt.Errorf("read clamd reply: %w: longer than %d bytes", ErrBadReply, maxReply)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return reply, err
		}
	}
}

// command sends a short command and returns its reply line.
func (c *Client) command(ctx context.Context, cmd string) (string, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer cn.close()
	cn.deadline(c.ioTimeout())
	if _, err := cn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", fmt.Errorf("send %s to clamd: %w", cmd, cn.ctxErr(err))
	}
	reply, err := cn.readReply(min(c.ioTimeout(), c.replyTimeout()))
	if len(reply) == 0 {
		if err != nil {
			return "", fmt.Errorf("read clamd %s reply: %w", cmd, cn.ctxErr(err))
		}
		return "", fmt.Errorf("read clamd %s reply: %w", cmd, ErrNoReply)
	}
	return strings.TrimRight(string(reply), "\n"), nil
}

// Ping checks that clamd answers: it sends zPING and expects PONG.
func (c *Client) Ping(ctx context.Context) error {
	r, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if r != "PONG" {
		return fmt.Errorf("ping clamd: %w: %q", ErrBadReply, truncate(r))
	}
	return nil
}

// Version returns clamd's version line, such as "ClamAV 1.4.6" or
// "ClamAV 1.4.6/27480/Mon Nov 23 08:00:00 2026" when a daily database is loaded.
func (c *Client) Version(ctx context.Context) (string, error) {
	return c.command(ctx, "VERSION")
}

// Scan streams r to clamd with INSTREAM and returns clamd's verdict.
//
// On success the verdict is Clean, Infected, or NotScanned(ReasonTooLarge) when the stream
// passed clamd's limit. When clamd cannot be reached, Scan returns NotScanned(ReasonScannerDown)
// with an error wrapping ErrScannerDown. Every other error comes with the zero Verdict: a read
// error of r (wrapping ErrSource and the read error; the connection is closed without the
// terminator, so clamd scans nothing), a context that ended, a connection clamd closed
// without a verdict (ErrNoReply), or a reply that is no verdict (ErrBadReply).
//
// Scan returns when ctx ends, whatever clamd does: it starts no goroutine.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	cn, err := c.dial(ctx)
	if err != nil {
		if errors.Is(err, ErrScannerDown) {
			return NotScanned(ReasonScannerDown), fmt.Errorf("scan: %w", err)
		}
		return Verdict{}, fmt.Errorf("scan: %w", err)
	}
	defer cn.close()

	chunk := c.chunkSize()
	buf := make([]byte, 4+chunk)
	copy(buf, "zINSTREAM\x00")
	cn.deadline(c.ioTimeout())
	_, werr := cn.Write(buf[:10])
	for werr == nil {
		n, rerr := r.Read(buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			cn.deadline(c.ioTimeout())
			_, werr = cn.Write(buf[:4+n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// Close without the terminator: clamd must not scan a truncated stream.
			return Verdict{}, fmt.Errorf("scan: %w: %w", ErrSource, rerr)
		}
	}
	if werr == nil {
		cn.deadline(c.ioTimeout())
		_, werr = cn.Write([]byte{0, 0, 0, 0})
	}
	if werr != nil && cn.ended() != nil {
		return Verdict{}, fmt.Errorf("scan: send stream: %w", cn.ended())
	}
	// Read the reply even after a failed write: clamd answers a stream past its limit with
	// "INSTREAM size limit exceeded. ERROR" and closes, so the write may fail first.
	reply, rerr := cn.readReply(c.replyTimeout())
	if len(reply) == 0 {
		switch {
		case cn.ended() != nil:
			return Verdict{}, fmt.Errorf("scan: wait for verdict: %w", cn.ended())
		case rerr != nil:
			return Verdict{}, fmt.Errorf("scan: read verdict: %w: %w", ErrNoReply, rerr)
		case werr != nil:
			return Verdict{}, fmt.Errorf("scan: send stream: %w: %w", ErrNoReply, werr)
		}
		return Verdict{}, fmt.Errorf("scan: %w", ErrNoReply)
	}
	v, err := ParseReply(string(reply))
	if err != nil {
		return Verdict{}, fmt.Errorf("scan: %w", err)
	}
	return c.mark(v), nil
}

// ParseReply turns clamd's reply to an INSTREAM command (without its NUL) into a verdict:
// "stream: OK" is Clean; "stream: <name> FOUND" is Infected(name), except clamd's limit alerts
// (Heuristics.Limits.Exceeded.*) which are NotScanned; a reply saying "size limit exceeded" is
// NotScanned(ReasonTooLarge). Anything else is an error wrapping ErrBadReply.
func ParseReply(reply string) (Verdict, error) {
	line := strings.TrimRight(reply, "\x00\r\n")
	switch {
	case strings.Contains(line, "size limit exceeded"):
		return NotScanned(ReasonTooLarge), nil
	case line == "stream: OK":
		return Clean(), nil
	}
	if rest, ok := strings.CutPrefix(line, "stream: "); ok {
		if sig, ok := strings.CutSuffix(rest, " FOUND"); ok {
			sig = strings.TrimSpace(sig)
			if sig != "" && !strings.ContainsFunc(sig, isControl) {
				return fromSignature(sig), nil
			}
		}
	}
	return Verdict{}, fmt.Errorf("%w: %q", ErrBadReply, truncate(line))
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func truncate(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
