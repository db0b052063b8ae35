package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits bound what outsiders can make the server hold (issue 16 item 5): connections per
// client address, the time a connection may take to finish its TLS handshake, and the size of
// a request's header, which is also each connection's read buffer. The byte path's own memory
// (uploads, downloads, zips) is bounded by the node's budget (internal/membudget), reserved by
// the handlers.
type Limits struct {
	// MaxConnsPerIP bounds the open connections from one client address; past it a new one
	// is closed at once (before its TLS handshake).
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// HandshakeTimeout bounds a new connection's TLS handshake. The first request's headers
	// must then arrive within Config.ReadTimeout, and a keep-alive's next request's first byte
	// within Config.IdleTimeout.
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
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
// address (a browser opens 6; an office behind one NAT shares it), 10 s to handshake, 16 KiB
// of header, 16 KiB of response buffer.
func DefaultLimits() Limits {
	return Limits{
		MaxConnsPerIP:    64,
		HandshakeTimeout: 10 * time.Second,
		HeaderBytes:      16 << 10,
		WriteBufferBytes: 16 << 10,
	}
}

func (l *Limits) validate() error {
	switch {
	case l.MaxConnsPerIP < 1:
		return errors.New("httpd config: max_conns_per_ip must be positive")
	case l.HandshakeTimeout <= 0:
		return errors.New("httpd config: handshake_timeout must be positive")
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

// handshakeListener hands out TLS connections whose handshake must end within timeout. The
// handshake runs on the connection's goroutine, at its first read (as tls.NewListener's
// would), never in Accept: one slow client cannot hold the accept loop.
type handshakeListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
}

// Accept implements net.Listener.
func (l handshakeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, l.cfg), timeout: l.timeout}, nil
}

// handshakeConn is a server TLS connection that handshakes under its own deadline before the
// first read or write. It embeds *tls.Conn, so fasthttp sees a TLS connection (IsTLS,
// ConnectionState).
type handshakeConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error // the handshake's, set in once
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.err = c.HandshakeContext(ctx)
	})
	return c.err
}

// Read implements net.Conn.
func (c *handshakeConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write implements net.Conn.
func (c *handshakeConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
