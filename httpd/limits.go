package httpd

import (
	"errors"

	"github.com/valyala/fasthttp"
)

// Limits bound what outsiders can make the server hold (issue 16 item 5): connections per
// client address and the size of a request's header, which is also each connection's read
// buffer. Time is bounded by Config's timeouts: fasthttp arms ReadTimeout before a new
// connection's first read, which runs the TLS handshake, so the handshake and the first
// request's header must both arrive within it; a keep-alive connection's next request must
// start within IdleTimeout. The byte path's own memory
// (uploads, downloads, zips) is bounded by the node's budget (internal/membudget), reserved by
// the handlers.
type Limits struct {
	// MaxConnsPerIP bounds the open connections from one client address; past it a new one
	// is closed at once (before its TLS handshake).
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// HeaderBytes bounds a request's header (request line and header fields); a larger one is
	// answered 431. It is each connection's read buffer too, allocated only once a request's
	// first byte arrived: bodies stream past it (tus reads straight into the blobstore's
	// buffers), so it need not be large.
	HeaderBytes int `toml:"header_bytes"`
	// WriteBufferBytes is each connection's response buffer, allocated only while a response
	// is written: downloads write their large chunks past it.
	WriteBufferBytes int `toml:"write_buffer_bytes"`
}

// DefaultLimits returns the limits of a node facing the Internet directly: 64 connections per
// address (a browser opens 6; an office behind one NAT shares it), 16 KiB of header, 16 KiB of
// response buffer.
func DefaultLimits() Limits {
	return Limits{
		MaxConnsPerIP:    64,
		HeaderBytes:      16 << 10,
		WriteBufferBytes: 16 << 10,
	}
}

func (l *Limits) validate() error {
	switch {
	case l.MaxConnsPerIP < 1:
		return errors.New("httpd config: max_conns_per_ip must be positive")
	case l.HeaderBytes < 4<<10 || l.HeaderBytes > 1<<20:
		return errors.New("httpd config: header_bytes out of 4 KiB..1 MiB")
	case l.WriteBufferBytes < 4<<10 || l.WriteBufferBytes > 16<<20:
		return errors.New("httpd config: write_buffer_bytes out of 4 KiB..16 MiB")
	}
	return nil
}

// applyLimits sets the fasthttp fields that Limits govern.
func applyLimits(srv *fasthttp.Server, l Limits) {
	srv.MaxConnsPerIP = l.MaxConnsPerIP
	srv.ReadBufferSize = l.HeaderBytes
	srv.WriteBufferSize = l.WriteBufferBytes
	// Buffers are taken at a request's first byte and given back while a keep-alive
	// connection idles: an idle or slow connection holds no buffer.
	srv.ReduceMemoryUsage = true
}
