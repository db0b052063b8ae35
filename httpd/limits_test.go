package httpd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startLimited starts a server with cfg's limits changed by mutate; it returns its address and
// the CA pool that trusts it.
func startLimited(t *testing.T, mutate func(*Config)) (string, *x509.CertPool) {
	t.Helper()
	s, pool := startTest(t, Deps{API: tlsProbe{}}, mutate)
	return s.Addr().String(), pool
}

// hangGuard bounds a test's wait on a connection that should answer or close: generous, so
// that only a hang trips it, never a slow machine.
const hangGuard = 2 * time.Minute

// dialFrom opens a TCP connection to addr from the loopback address src (127.0.0.x).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: hangGuard}
	return d.Dial("tcp", addr)
}

// healthz does a TLS handshake on c and GET /healthz, keeping c open; it returns the status.
func healthz(c net.Conn, pool *x509.CertPool) (int, error) {
	_ = c.SetDeadline(time.Now().Add(hangGuard)) // hang guard
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if _, err := io.WriteString(tc, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, nil
}

// TestPerIPConnectionCapUnderBurst is the connection flood of issue 16 item 5 (2 000
// connections from one address were accepted and held): a burst of 40 connections from one
// address, all held open, gets exactly the cap of 8 served and the rest closed before their
// handshake, while another address is still served.
func TestPerIPConnectionCapUnderBurst(t *testing.T) {
	const limit, burst = 8, 40
	addr, pool := startLimited(t, func(c *Config) { c.Limits.MaxConnsPerIP = limit })
	conns := make([]net.Conn, burst)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := dialFrom("127.0.0.1", addr)
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if t.Failed() {
		return
	}
	var (
		mu     sync.Mutex
		served int
	)
	for _, c := range conns {
		wg.Go(func() {
			if code, err := healthz(c, pool); err == nil && code == http.StatusOK {
				mu.Lock()
				served++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if served != limit {
		t.Fatalf("%d of %d connections from one address served, want the cap, %d", served, burst, limit)
	}
	// Every connection of 127.0.0.1 is still open: another address is served all the same.
	c, err := dialFrom("127.0.0.2", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, err := healthz(c, pool); err != nil || code != http.StatusOK {
		t.Fatalf("another address: %d, %v; want 200", code, err)
	}
}

// TestSlowClientsAreCut is the slow-handshake and unfinished-header attack of issue 16 item 5:
// a connection that never handshakes and one that never finishes its header are closed by
// the server (the client sees the end of the stream long before its own hang guard), and a
// header above the bound is answered 431 without being buffered.
func TestSlowClientsAreCut(t *testing.T) {
	addr, pool := startLimited(t, func(c *Config) {
		c.ReadTimeout = 200 * time.Millisecond
	})
	t.Run("no handshake", func(t *testing.T) {
		c, err := dialFrom("127.0.0.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(hangGuard))
		if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
			t.Fatalf("read = %v, want the server to close the connection", err)
		}
	})
	t.Run("unfinished header", func(t *testing.T) {
		c, err := dialFrom("127.0.0.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if _, err := io.WriteString(tc, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		_ = tc.SetReadDeadline(time.Now().Add(hangGuard))
		b, err := io.ReadAll(tc)
		if err != nil && !closedByPeer(err) {
			t.Fatalf("read = %q, %v; want the server to close the connection", b, err)
		}
		if strings.Contains(string(b), "200 OK") {
			t.Fatalf("an unfinished header was served: %q", b)
		}
	})
	t.Run("header above the bound", func(t *testing.T) {
		c, err := dialFrom("127.0.0.1", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(hangGuard))
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		big := strings.Repeat("a", DefaultLimits().HeaderBytes*2)
		// The server answers before the header's end and closes: the write may break, and
		// the close may reset the connection before the 431 is read. Either way, never a 200.
		go fmt.Fprintf(tc, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big)
		res, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			if !closedByPeer(err) {
				t.Fatalf("read: %v, want a 431 or the connection closed", err)
			}
			return
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", res.StatusCode)
		}
	})
}

// closedByPeer reports whether a read error means the other side closed (or reset) the
// connection, not that the reader's own deadline passed.
func closedByPeer(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

// tlsProbe answers /probe/tls with whether fasthttp sees the connection as TLS.
type tlsProbe struct{}

func (tlsProbe) Handle(ctx *fasthttp.RequestCtx) bool {
	if string(ctx.Path()) != "/probe/tls" {
		return false
	}
	ctx.SetBodyString(strconv.FormatBool(ctx.IsTLS() && ctx.TLSConnectionState() != nil))
	return true
}

// TestPerIPCapKeepsTLS: with connections counted per address, handlers still see a TLS
// connection (fasthttp recognises only a *tls.Conn under its per-address wrapper).
func TestPerIPCapKeepsTLS(t *testing.T) {
	addr, pool := startLimited(t, func(*Config) {})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr, Timeout: hangGuard}).Get("https://" + addr + "/probe/tls")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "true" {
		t.Fatalf("the handler saw TLS = %q, want true", b)
	}
}
