// Package httpd is Valise's HTTPS front end, on fasthttp over TLS. It answers the health and
// readiness probes, serves the cluster CA certificate, and routes to the front ends mounted in
// it (routes.go): the tus uploads at /api/v1/uploads, the REST API with the public link
// pages (httpd/api), then the users' web UI (httpd/web). Everything else is 404: nothing
// answers that no mount claims.
//
// httpd never touches the stores: it asks the node through the small interfaces it declares
// (Readiness, Mount).
package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Errors returned by Server.
var (
	// ErrStarted is returned by Start on a server already started.
	ErrStarted = errors.New("httpd: already started")
)

// Readiness tells whether the node can serve requests that need its stores.
type Readiness interface {
	// Ready returns nil when the stores are open and a Raft leader is known, or an error
	// saying what is missing. It is called from request goroutines, concurrently, and must
	// answer quickly without blocking on the network.
	Ready() error
}

// Config is what the HTTPS server needs.
type Config struct {
	// Listen is the TCP address, host:port; port 0 picks a free port (see Server.Addr).
	Listen string
	// Certificate is the server's TLS certificate chain and key. With Managed set it is
	// optional: the certificate served for a name certmagic holds none for.
	Certificate tls.Certificate
	// Managed, when set, has certmagic obtain and renew the certificates (tls.go); nil
	// serves Certificate alone.
	Managed *ManagedTLS
	// CAPEM is the cluster CA certificate served at /ca.pem.
	CAPEM []byte
	// ReadTimeout bounds a new connection's TLS handshake with its first request's header,
	// a keep-alive request's header from its first byte, and the small bodies read whole; tus
	// bodies have their own deadline per read.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of a response to the connection (not the whole
	// response: a large download to a slow client must not be cut; see conn.go).
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests.
	IdleTimeout time.Duration
	// Limits bound connections, handshakes and headers (limits.go).
	Limits Limits
}

// DefaultConfig returns the timeouts and buffer sizes; the caller sets Listen, Certificate
// and CAPEM.
func DefaultConfig() Config {
	return Config{
		Listen:       ":8443",
		ReadTimeout:  20 * time.Second,
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  30 * time.Second,
		Limits:       DefaultLimits(),
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return errors.New("httpd config: no listen address")
	}
	if c.Managed == nil && (len(c.Certificate.Certificate) == 0 || c.Certificate.PrivateKey == nil) {
		return errors.New("httpd config: no TLS certificate")
	}
	if c.Managed != nil {
		if err := c.Managed.validate(); err != nil {
			return err
		}
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("httpd config: timeouts must be positive")
	}
	return c.Limits.validate()
}

// Server is the HTTPS server. Start it once, Shutdown it once.
type Server struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger
	srv    *fasthttp.Server
	// proxies are the trusted proxies whose X-Forwarded-For is believed (clientip.go).
	proxies trustedProxies

	mu    sync.Mutex    // guards ln and certs
	ln    net.Listener  // the bound listener, nil before Start
	certs *managedCerts // certmagic's state with Config.Managed, set by Start
	done  chan struct{} // closed when the serve goroutine returns
	err   error         // what Serve returned; read after done is closed

	caPEM atomic.Pointer[[]byte] // served at /ca.pem once SetCAPEM was called; nil: cfg.CAPEM
}

// New returns a server over cfg routing to deps; it listens only at Start.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Ready == nil {
		return nil, errors.New("httpd: Deps.Ready is required")
	}
	s := &Server{cfg: cfg, deps: deps, logger: logger.With("component", "httpd"), done: make(chan struct{})}
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "valise",
		NoDefaultServerHeader: true,
		StreamRequestBody:     true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{s.logger},
	}
	applyLimits(s.srv, cfg.Limits)
	return s, nil
}

// Start binds the listen address and serves in a goroutine that Shutdown stops and waits for.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return ErrStarted
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		s.stopTLS()
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	// A *tls.Conn as is: fasthttp then counts it per address and still sees it as TLS.
	s.ln = tls.NewListener(writeTimeoutListener{Listener: tcp, timeout: s.cfg.WriteTimeout}, tlsCfg)
	go func() {
		defer close(s.done)
		s.err = s.srv.Serve(s.ln)
	}()
	s.logger.Info("https listening", "addr", tcp.Addr().String())
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Done is closed when the server stops serving: after Shutdown, or when serving failed (see
// Shutdown's error).
func (s *Server) Done() <-chan struct{} { return s.done }

// Shutdown stops accepting, waits for open requests until ctx ends, and then closes what is
// left. It returns once the serve goroutine has.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.ln != nil
	s.mu.Unlock()
	if !started {
		return nil
	}
	err := s.srv.ShutdownWithContext(ctx)
	<-s.done
	s.mu.Lock()
	s.stopTLS()
	s.mu.Unlock()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shut down https: %w", err)
	}
	if s.err != nil && !errors.Is(s.err, net.ErrClosed) {
		return fmt.Errorf("serve https: %w", s.err)
	}
	return nil
}

// fasthttpLogger routes fasthttp's own messages (connection errors) to slog at debug level.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}
