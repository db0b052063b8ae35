package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"valise/adminapi"
	"valise/internal/logkey"
)

// AdminListenOff in network.admin_listen (or serve --admin-listen "off" or "") turns the admin
// port off.
const AdminListenOff = "off"

// defaultAdminPort is the admin port's port when network.admin_listen is empty.
const defaultAdminPort = "8445"

// AdminListenAddr returns the admin port's address, "" when it is off: network.admin_listen,
// or when empty the HTTPS listen host on port 8445 (port 0 when HTTPS picks a free port, so
// that nodes started on free ports never contend for 8445).
func (c *Config) AdminListenAddr() string {
	switch c.Network.AdminListen {
	case AdminListenOff:
		return ""
	case "":
		host, port, err := net.SplitHostPort(c.Network.Listen)
		if err != nil {
			return ":" + defaultAdminPort
		}
		if port == "0" {
			return net.JoinHostPort(host, "0")
		}
		return net.JoinHostPort(host, defaultAdminPort)
	}
	return c.Network.AdminListen
}

// startAdminTLS serves the admin API on the admin port (issue 20): TLS 1.3, a client
// certificate required, and only an active admin certificate of the cluster accepted
// (verifyAdminCert, at every handshake, and the handler asks again at every request). The
// node presents a node certificate: the console authenticates the node as one of the
// cluster, as nodes do each other.
func (n *instance) startAdminTLS() error {
	addr := n.cfg.AdminListenAddr()
	if addr == "" {
		n.logger.Info("admin port off (network.admin_listen)")
		return nil
	}
	hosts, ips := certNames(addr, n.cfg.Network.Advertise)
	hosts, ips = n.permitted("admin port", hosts, ips)
	cert, err := n.keys.IssueNodeCert(n.cfg.Node.ID, hosts, ips, 0)
	if err != nil {
		return fmt.Errorf("admin port certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on the admin port %s (network.admin_listen, --admin-listen): %w", addr, err)
	}
	n.adminTLSLn = ln
	srv := &http.Server{
		Handler:           adminapi.WhileStarting(n.serving.Load, adminapi.NewHandler(&adminService{n: n}, n.logger)),
		ReadHeaderTimeout: 10 * time.Second, // bounds the TLS handshake too
		IdleTimeout:       2 * time.Minute,
		ConnState:         n.adminConns.track,
		ErrorLog:          slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug), // refused handshakes
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAnyClientCert, // verified below, against the cluster CA only
			VerifyConnection: func(cs tls.ConnectionState) error {
				_, err := n.verifyAdminCert(cs.PeerCertificates)
				return err
			},
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.reportFatal(fmt.Errorf("admin port: %w", err))
		}
	}()
	n.onStop("admin port", func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			_ = srv.Close()
		}
		<-done
		return err
	})
	n.logger.Info("admin port listening", "addr", ln.Addr().String())
	return nil
}

// adminTLSAddr is the admin port's bound address, "" when it is off.
func (n *instance) adminTLSAddr() string {
	if n.adminTLSLn == nil {
		return ""
	}
	return n.adminTLSLn.Addr().String()
}

// adminConns are the admin port's connections past their handshake, so that a revocation
// closes those of the revoked certificate at once: a request checks the certificate again,
// but a stream (the journal's tail) would go on. The zero value is ready.
type adminConns struct {
	mu    sync.Mutex
	conns map[*tls.Conn]struct{} // guarded by mu; nil until the first
}

// track is the admin server's http.Server.ConnState. A connection is active only once its
// handshake is complete (the server reads a request after it), so ConnectionState never
// waits for a handshake in recheck.
func (a *adminConns) track(c net.Conn, st http.ConnState) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch st {
	case http.StateActive:
		if a.conns == nil {
			a.conns = map[*tls.Conn]struct{}{}
		}
		a.conns[tc] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(a.conns, tc)
	}
}

// recheck closes the connections whose certificate is no longer an active admin certificate
// of the cluster; watchRevocations calls it when the revocation list changed.
func (a *adminConns) recheck(n *instance) {
	a.mu.Lock()
	conns := make([]*tls.Conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	closed := 0
	for _, c := range conns {
		cs := c.ConnectionState()
		if len(cs.PeerCertificates) == 0 {
			continue
		}
		if _, err := n.activeAdminCert(cs.PeerCertificates[0]); err != nil {
			_ = c.Close()
			closed++
		}
	}
	if closed > 0 {
		n.logger.Warn("closed the admin connections of revoked certificates", logkey.Count, closed)
	}
}
