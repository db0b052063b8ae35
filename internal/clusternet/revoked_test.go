package clusternet_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"

	"valise/internal/poll"
)

// revocations is a revocation list for tests: certificate serials, changed while muxes run.
type revocations struct {
	mu      sync.Mutex // guards serials
	serials map[string]bool
	calls   int // guarded by mu: how often the hook ran
}

func (r *revocations) revoke(cert tls.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serials[cert.Leaf.SerialNumber.String()] = true
}

func (r *revocations) check(cert *x509.Certificate) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.serials[cert.SerialNumber.String()] {
		return fmt.Errorf("serial %s is on the list", cert.SerialNumber)
	}
	return nil
}

func (r *revocations) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// acceptAll passes on every connection ln accepts, until ln is closed; then it closes the
// channel.
func acceptAll(ln net.Listener) <-chan net.Conn {
	accepted := make(chan net.Conn, 8)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

// listenRevoking is listenCert with a Revoked hook.
func listenRevoking(t *testing.T, ca *clustertest.CA, id string, cert tls.Certificate, addr string, revoked func(*x509.Certificate) error) *clusternet.Mux {
	t.Helper()
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, cert, ca.Pool(), addr
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.Revoked = revoked
	m, err := clusternet.Listen(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("listen %s: %v", id, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRevokedPeerRefused (issue 18, certificate revocation): a node whose certificate is on
// the revocation list can neither connect to a node (the acceptor refuses it) nor be connected
// to (the dialer refuses it), on every handshake; a certificate of the same node not on the
// list, such as the one a replaced node gets, is accepted.
func TestRevokedPeerRefused(t *testing.T) {
	ca := clustertest.NewCA(t)
	for _, tc := range []struct {
		name string
		// revokeOnServer: the acceptor's list names the dialer's certificate; else the
		// dialer's list names the acceptor's.
		revokeOnServer bool
	}{
		{"server side refuses a revoked client", true},
		{"client side refuses a revoked server", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverList := &revocations{serials: map[string]bool{}}
			clientList := &revocations{serials: map[string]bool{}}
			serverCert, clientCert := ca.NodeCert(t, "node-s"), ca.NodeCert(t, "node-c")
			server := listenRevoking(t, ca, "node-s", serverCert, "127.0.0.2:0", serverList.check)
			client := listenRevoking(t, ca, "node-c", clientCert, "127.0.0.3:0", clientList.check)
			ln, err := server.Listener(clusternet.ProtoCall)
			if err != nil {
				t.Fatal(err)
			}
			accepted := acceptAll(ln)

			// Not revoked yet: the connection works, and both sides asked the hook.
			c, err := client.Dial(ctxT(t), clusternet.ProtoCall, server.Addr().String(), "node-s")
			if err != nil {
				t.Fatalf("dial before revocation: %v", err)
			}
			c.Close()
			(<-accepted).Close()
			if serverList.count() == 0 || clientList.count() == 0 {
				t.Fatalf("hook calls: server %d, client %d; want both sides to check", serverList.count(), clientList.count())
			}

			if tc.revokeOnServer {
				serverList.revoke(clientCert)
			} else {
				clientList.revoke(serverCert)
			}
			c, err = client.Dial(ctxT(t), clusternet.ProtoCall, server.Addr().String(), "node-s")
			if err == nil {
				c.Close()
				t.Fatal("a revoked certificate connected")
			}
			if !tc.revokeOnServer && !errors.Is(err, clusternet.ErrRevoked) {
				t.Fatalf("dial a revoked server: %v, want ErrRevoked", err)
			}
			t.Logf("refused as expected: %v", err)

			// The same node with a new certificate (a replaced node) is accepted again.
			if tc.revokeOnServer {
				fresh := listenRevoking(t, ca, "node-c", ca.NodeCert(t, "node-c"), "127.0.0.4:0", clientList.check)
				c, err = fresh.Dial(ctxT(t), clusternet.ProtoCall, server.Addr().String(), "node-s")
			} else {
				fresh := listenRevoking(t, ca, "node-s", ca.NodeCert(t, "node-s"), "127.0.0.4:0", serverList.check)
				fln, lerr := fresh.Listener(clusternet.ProtoCall)
				if lerr != nil {
					t.Fatal(lerr)
				}
				go func() {
					if fc, err := fln.Accept(); err == nil {
						fc.Close()
					}
				}()
				c, err = client.Dial(ctxT(t), clusternet.ProtoCall, fresh.Addr().String(), "node-s")
			}
			if err != nil {
				t.Fatalf("dial with a new certificate of the same node: %v", err)
			}
			c.Close()
			if tc.revokeOnServer {
				(<-accepted).Close() // the new certificate's connection
			}

			server.Close()
			for c := range accepted {
				t.Errorf("a refused connection reached the listener, from %v", c.RemoteAddr())
				c.Close()
			}
		})
	}
}

// TestRecheckClosesRevoked (issue 18): a connection made before its peer's certificate was
// revoked — a pooled Raft connection lives long — is closed by Recheck, on the side that
// accepted it and on the side that dialed it; a connection of a peer still trusted is kept.
func TestRecheckClosesRevoked(t *testing.T) {
	ca := clustertest.NewCA(t)
	for _, side := range []string{"acceptor", "dialer"} {
		t.Run(side, func(t *testing.T) {
			serverList := &revocations{serials: map[string]bool{}}
			clientList := &revocations{serials: map[string]bool{}}
			serverCert, clientCert := ca.NodeCert(t, "node-s"), ca.NodeCert(t, "node-c")
			server := listenRevoking(t, ca, "node-s", serverCert, "127.0.0.2:0", serverList.check)
			client := listenRevoking(t, ca, "node-c", clientCert, "127.0.0.3:0", clientList.check)
			other := listenRevoking(t, ca, "node-o", ca.NodeCert(t, "node-o"), "127.0.0.4:0", nil)
			ln, err := server.Listener(clusternet.ProtoCall)
			if err != nil {
				t.Fatal(err)
			}
			accepted := acceptAll(ln)
			dialed, err := client.Dial(ctxT(t), clusternet.ProtoCall, server.Addr().String(), "node-s")
			if err != nil {
				t.Fatal(err)
			}
			defer dialed.Close()
			acc := <-accepted
			defer acc.Close()
			kept, err := other.Dial(ctxT(t), clusternet.ProtoCall, server.Addr().String(), "node-s")
			if err != nil {
				t.Fatal(err)
			}
			defer kept.Close()
			keptAcc := <-accepted
			defer keptAcc.Close()

			// The side that rechecks closes its end; the other end then reads EOF.
			var recheck *clusternet.Mux
			var closedEnd, farEnd net.Conn
			if side == "acceptor" {
				serverList.revoke(clientCert)
				recheck, closedEnd, farEnd = server, acc, dialed
			} else {
				clientList.revoke(serverCert)
				recheck, closedEnd, farEnd = client, dialed, acc
			}
			if n := recheck.Recheck(); n != 1 {
				t.Fatalf("Recheck closed %d connections, want 1", n)
			}
			if _, err := closedEnd.Write([]byte("x")); err == nil {
				t.Fatal("the revoked peer's connection is still open on the rechecking side")
			}
			_ = farEnd.SetReadDeadline(time.Now().Add(poll.HangGuard))
			if _, err := farEnd.Read(make([]byte, 1)); err == nil {
				t.Fatal("the far end read data from a closed connection")
			}
			// The trusted peer's connection still carries data.
			if _, err := kept.Write([]byte("k")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			_ = keptAcc.SetReadDeadline(time.Now().Add(poll.HangGuard))
			if _, err := keptAcc.Read(b); err != nil || b[0] != 'k' {
				t.Fatalf("a trusted connection after Recheck: %q, %v", b, err)
			}
			if n := recheck.Recheck(); n != 0 {
				t.Fatalf("a second Recheck closed %d connections, want 0 (closed ones are forgotten)", n)
			}
		})
	}
}
