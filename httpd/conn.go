package httpd

import (
	"net"
	"time"
)

// writeTimeoutListener gives every accepted connection a deadline per write instead of per
// response. fasthttp arms Config.WriteTimeout once before writing a response, so a download
// of several GiB to a slow but live client would be cut after WriteTimeout; here each write
// must make progress within WriteTimeout, whatever the response's length (the counterpart of
// the tus uploads' deadline per read). A client that stops reading is still cut.
type writeTimeoutListener struct {
	net.Listener
	timeout time.Duration
}

// Accept implements net.Listener.
func (l writeTimeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &writeTimeoutConn{Conn: c, timeout: l.timeout}, nil
}

// writeTimeoutConn arms the write deadline before each write; the whole-response deadlines
// set from above (fasthttp through tls.Conn) are ignored.
type writeTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

// Write implements net.Conn.
func (c *writeTimeoutConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline implements net.Conn: Write arms its own.
func (c *writeTimeoutConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline implements net.Conn: the read side only; Write arms its own.
func (c *writeTimeoutConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }
