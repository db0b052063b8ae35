package clusternet_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/testlog"
)

func testLogger(t *testing.T) *slog.Logger {
	return testlog.New(t, slog.LevelDebug)
}

func listen(t *testing.T, ca *clustertest.CA, id, addr string) *clusternet.Mux {
	t.Helper()
	return listenCert(t, ca, id, ca.NodeCert(t, id), addr)
}

func listenCert(t *testing.T, ca *clustertest.CA, id string, cert tls.Certificate, addr string) *clusternet.Mux {
	t.Helper()
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, cert, ca.Pool(), addr
	cfg.HandshakeTimeout = 2 * time.Second
	m, err := clusternet.Listen(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("listen %s: %v", id, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestProtocols: two nodes talk on each protocol; both sides see the other's node ID, and the
// connection leaves from the dialer's own cluster IP (127.0.0.2 → 127.0.0.3).
func TestProtocols(t *testing.T) {
	ca := clustertest.NewCA(t)
	a := listen(t, ca, "node-a", "127.0.0.2:0")
	b := listen(t, ca, "node-b", "127.0.0.3:0")
	for _, tc := range []struct {
		name  string
		proto byte
	}{{"raft", clusternet.ProtoRaft}, {"call", clusternet.ProtoCall}, {"shard", clusternet.ProtoShard}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := b.Listener(tc.proto)
			if err != nil {
				t.Fatal(err)
			}
			type accepted struct {
				peer   string
				remote net.Addr
				msg    string
				err    error
			}
			got := make(chan accepted, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- accepted{err: err}
					return
				}
				defer c.Close()
				peer, _ := clusternet.PeerID(c)
				buf := make([]byte, 5)
				_, err = io.ReadFull(c, buf)
				if err == nil {
					_, err = c.Write([]byte("pong:" + string(buf)))
				}
				got <- accepted{peer: peer, remote: c.RemoteAddr(), msg: string(buf), err: err}
			}()
			c, err := a.Dial(ctxT(t), tc.proto, b.Addr().String(), "node-b")
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if c.PeerID() != "node-b" || c.Proto() != tc.proto {
				t.Fatalf("dialed conn: peer %q proto %q", c.PeerID(), c.Proto())
			}
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			reply := make([]byte, 10)
			if _, err := io.ReadFull(c, reply); err != nil {
				t.Fatal(err)
			}
			if string(reply) != "pong:hello" {
				t.Fatalf("reply %q", reply)
			}
			acc := <-got
			if acc.err != nil {
				t.Fatal(acc.err)
			}
			if acc.peer != "node-a" {
				t.Fatalf("acceptor sees peer %q, want node-a", acc.peer)
			}
			if ip := acc.remote.(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
				t.Fatalf("connection came from %s, want the dialer's bound 127.0.0.2", ip)
			}
		})
	}
}

// TestRefused: connections whose certificates do not name the right cluster member never reach
// a listener, and Dial says so.
func TestRefused(t *testing.T) {
	ca := clustertest.NewCA(t)
	other := clustertest.NewCA(t)
	server := listen(t, ca, "server", "127.0.0.1:0")
	ln, err := server.Listener(clusternet.ProtoCall)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for _, tc := range []struct {
		name    string
		client  func(t *testing.T) *clusternet.Mux
		target  func(t *testing.T) string
		want    string
		wantErr error
	}{
		{"client cert from another CA", func(t *testing.T) *clusternet.Mux {
			return listenCert(t, ca, "intruder", other.NodeCert(t, "intruder"), "127.0.0.1:0")
		}, func(*testing.T) string { return server.Addr().String() }, "", clusternet.ErrRefused},
		{"server cert from another CA", func(t *testing.T) *clusternet.Mux {
			return listen(t, ca, "client", "127.0.0.1:0")
		}, func(t *testing.T) string {
			return listenCert(t, other, "fake", other.NodeCert(t, "fake"), "127.0.0.1:0").Addr().String()
		}, "", nil},
		{"wrong peer node ID", func(t *testing.T) *clusternet.Mux {
			return listen(t, ca, "client", "127.0.0.1:0")
		}, func(*testing.T) string { return server.Addr().String() }, "someone-else", clusternet.ErrPeerID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client(t)
			c, err := client.Dial(ctxT(t), clusternet.ProtoCall, tc.target(t), tc.want)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("dial error %v, want %v", err, tc.wantErr)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
	t.Run("client cert names no node", func(t *testing.T) {
		// A CommonName alone names nobody: the ID is taken from the URI SAN only.
		cert := ca.Cert(t, nil, "cn-only")
		c, err := tls.Dial("tcp", server.Addr().String(), &tls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		})
		if err != nil {
			return // refused during the handshake
		}
		defer c.Close()
		_, _ = c.Write([]byte{clusternet.ProtoCall})
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("server acknowledged a certificate naming no node: n=%d err=%v", n, err)
		}
	})
	server.Close()
	for c := range accepted {
		t.Errorf("a refused connection reached the listener, from %v", c.RemoteAddr())
	}
}

func TestListenRejectsBadIdentity(t *testing.T) {
	ca := clustertest.NewCA(t)
	for _, tc := range []struct {
		name string
		id   string
		cert tls.Certificate
	}{
		{"cert names another node", "node-a", ca.NodeCert(t, "node-b")},
		{"cert names no node", "node-a", ca.Cert(t, nil, "node-a")},
		{"two node URIs", "node-a", ca.Cert(t, []*url.URL{clusternet.NodeURI("node-a"), clusternet.NodeURI("node-b")}, "")},
		// A bad ID cannot be a URI host: the older opaque form carries it.
		{"bad node ID", "node a", ca.Cert(t, []*url.URL{{Scheme: clusternet.URIScheme, Opaque: "node a"}}, "")},
		{"old opaque form names another node", "node-a", ca.Cert(t, []*url.URL{{Scheme: clusternet.URIScheme, Opaque: "node-b"}}, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clusternet.DefaultConfig()
			cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = tc.id, tc.cert, ca.Pool(), "127.0.0.1:0"
			m, err := clusternet.Listen(cfg, testLogger(t))
			if err == nil {
				m.Close()
				t.Fatal("Listen accepted the certificate")
			}
		})
	}
}

// TestUnknownProtocol: a member that sends an unknown first byte, or a protocol nobody
// listens for, is disconnected.
func TestUnknownProtocol(t *testing.T) {
	ca := clustertest.NewCA(t)
	server := listen(t, ca, "server", "127.0.0.1:0")
	if _, err := server.Listener(clusternet.ProtoRaft); err != nil {
		t.Fatal(err)
	}
	t.Run("unknown byte", func(t *testing.T) {
		cert := ca.NodeCert(t, "client")
		c, err := tls.Dial("tcp", server.Addr().String(), &tls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{'X'}); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || err == nil {
			t.Fatalf("read after unknown byte: n=%d err=%v, want the connection closed", n, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server kept the connection open")
		}
	})
	t.Run("no listener", func(t *testing.T) {
		client := listen(t, ca, "client", "127.0.0.1:0")
		_, err := client.Dial(ctxT(t), clusternet.ProtoShard, server.Addr().String(), "")
		if !errors.Is(err, clusternet.ErrRefused) {
			t.Fatalf("dial for an unserved protocol: %v, want ErrRefused", err)
		}
	})
	t.Run("dial unknown byte", func(t *testing.T) {
		client := listen(t, ca, "client2", "127.0.0.1:0")
		if _, err := client.Dial(ctxT(t), 'X', server.Addr().String(), ""); !errors.Is(err, clusternet.ErrUnknownProto) {
			t.Fatalf("dial 'X': %v", err)
		}
		if _, err := client.Listener('X'); !errors.Is(err, clusternet.ErrUnknownProto) {
			t.Fatalf("listener 'X': %v", err)
		}
	})
}

// TestSilentPeerTimesOut: a TCP client that never handshakes is dropped after the handshake
// timeout.
func TestSilentPeerTimesOut(t *testing.T) {
	ca := clustertest.NewCA(t)
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = "server", ca.NodeCert(t, "server"), ca.Pool(), "127.0.0.1:0"
	cfg.HandshakeTimeout = 100 * time.Millisecond
	m, err := clusternet.Listen(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("silent client not dropped: %v", err)
	}
}

// TestHandshakeFlood: beyond MaxHandshakes, new connections are closed at once instead of
// each holding a goroutine until the handshake timeout.
func TestHandshakeFlood(t *testing.T) {
	ca := clustertest.NewCA(t)
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = "server", ca.NodeCert(t, "server"), ca.Pool(), "127.0.0.1:0"
	cfg.HandshakeTimeout = time.Minute
	cfg.MaxHandshakes = 1
	m, err := clusternet.Listen(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first, err := net.Dial("tcp", m.Addr().String()) // silent: holds the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = second.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection beyond MaxHandshakes not closed: %v", err)
	}
	// Close does not wait for the silent connection's minute-long handshake timeout.
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a pending handshake")
	}
}

// TestCloseUnblocksAccept: closing a protocol listener, or the whole mux, ends a blocked
// Accept with ErrClosed; Dial after Close fails.
func TestCloseUnblocksAccept(t *testing.T) {
	ca := clustertest.NewCA(t)
	for _, tc := range []struct {
		name  string
		close func(m *clusternet.Mux, ln net.Listener)
	}{
		{"listener", func(_ *clusternet.Mux, ln net.Listener) { ln.Close() }},
		{"mux", func(m *clusternet.Mux, _ net.Listener) { m.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := listen(t, ca, "node", "127.0.0.1:0")
			ln, err := m.Listener(clusternet.ProtoRaft)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := ln.Accept()
				done <- err
			}()
			tc.close(m, ln)
			select {
			case err := <-done:
				if !errors.Is(err, clusternet.ErrClosed) {
					t.Fatalf("Accept returned %v, want ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Accept still blocked after Close")
			}
		})
	}
	t.Run("dial after close", func(t *testing.T) {
		m := listen(t, ca, "node", "127.0.0.1:0")
		addr := m.Addr().String()
		m.Close()
		if _, err := m.Dial(ctxT(t), clusternet.ProtoRaft, addr, ""); !errors.Is(err, clusternet.ErrClosed) {
			t.Fatalf("dial after close: %v", err)
		}
		if _, err := m.Listener(clusternet.ProtoRaft); !errors.Is(err, clusternet.ErrClosed) {
			t.Fatalf("listener after close: %v", err)
		}
	})
}

// TestDialHonoursContext: a dial to a peer that never answers ends with the context.
func TestDialHonoursContext(t *testing.T) {
	ca := clustertest.NewCA(t)
	m := listen(t, ca, "node", "127.0.0.1:0")
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = m.Dial(ctx, clusternet.ProtoRaft, silent.Addr().String(), "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial to a silent peer: %v, want DeadlineExceeded", err)
	}
}

func FuzzValidNodeID(f *testing.F) {
	for _, s := range []string{"node-1", "", "a b", "x/y", "ÿ", "n.1_2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := clusternet.ValidNodeID(id)
		if err != nil {
			return
		}
		u, perr := url.Parse(clusternet.NodeURI(id).String())
		if perr != nil || u.Host != id {
			t.Fatalf("valid ID %q does not round-trip through its URI: %v %q", id, perr, u)
		}
	})
}
