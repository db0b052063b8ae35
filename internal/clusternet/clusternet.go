// Package clusternet is a node's cluster port: one TCP listener carrying several protocols
// (Raft, node-to-node calls, later shard traffic) over mutual TLS, told apart by one first byte
// that the dialer sends after the handshake.
//
// Identity. Every node holds a certificate from the cluster's own CA naming its node ID in a URI
// subject alternative name "valise-node://<id>" (the CommonName is ignored: one place, no
// ambiguity). Both sides verify the peer's chain against the cluster CA and take the peer's
// node ID from its certificate, never from its IP address, so a node may change address. A node
// certificate needs both the serverAuth and clientAuth extended key usages, since every node
// both dials and accepts.
//
// Wire. After the TLS 1.3 handshake the dialer writes one protocol byte (ProtoRaft, ProtoCall,
// ProtoShard, ProtoJoin); the acceptor answers one byte, ackOK, once a listener for that
// protocol exists, and closes the connection otherwise. Dial returns only after the
// acknowledgement, so a refused certificate or protocol is an error of Dial, not of the first
// read.
//
// Revocation. Config.Revoked, when set, is asked about the peer's certificate in every
// handshake, on both sides, after its chain and node ID verified: the node answers from the
// revocation list in its Raft state (issue 18), so that a replaced node's old certificate or
// a leaked one is refused; Mux.Recheck closes the open connections of a peer revoked since.
//
// Outgoing connections leave from the node's own cluster IP when the listen address names a
// specific IP (net.Dialer.LocalAddr), so per-address firewall rules and multi-homed hosts see
// the node's real address.
package clusternet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"valise/internal/logkey"
)

// Protocol bytes: the first byte a dialer sends after the handshake.
const (
	// ProtoRaft carries hashicorp/raft's NetworkTransport.
	ProtoRaft byte = 'R'
	// ProtoCall carries node-to-node calls such as the read-index request.
	ProtoCall byte = 'C'
	// ProtoShard carries shard traffic (blobstore).
	ProtoShard byte = 'S'
	// ProtoJoin carries a joining node's one request for the cluster's keys (node/joinserve.go).
	ProtoJoin byte = 'J'
)

// ackOK is the acceptor's one-byte answer to a known protocol byte.
const ackOK byte = 0x06

// URIScheme is the scheme of the URI SAN that names a node in its certificate:
// "valise-node://<id>" (NodeIDFromCert also reads the older "valise-node:<id>").
const URIScheme = "valise-node"

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrClosed is returned by Accept on a closed listener or mux, and by Dial after Close.
	ErrClosed = errors.New("clusternet: closed")

	// ErrUnknownProto is returned by Listener and Dial for a protocol byte that is not one of
	// ProtoRaft, ProtoCall, ProtoShard, ProtoJoin.
	ErrUnknownProto = errors.New("clusternet: unknown protocol")

	// ErrPeerID is wrapped by handshakes whose peer certificate names no valid node ID, or
	// another node than the dialer wanted.
	ErrPeerID = errors.New("clusternet: peer node ID refused")

	// ErrRefused is returned by Dial when the peer closed the connection instead of
	// acknowledging the protocol (no listener for it, or it refused our certificate).
	ErrRefused = errors.New("clusternet: connection refused by peer")

	// ErrRevoked is wrapped by handshakes whose peer certificate Config.Revoked refused.
	ErrRevoked = errors.New("clusternet: peer certificate revoked")
)

// Config is what a cluster port needs. Certificates come from the cluster CA (package keyring).
type Config struct {
	// NodeID is this node's ID; Cert must name it.
	NodeID string
	// Cert is this node's certificate chain and key, with serverAuth and clientAuth usages.
	Cert tls.Certificate
	// CA holds the cluster CA: the only roots trusted for peers.
	CA *x509.CertPool
	// ListenAddr is the TCP address to listen on ("10.0.0.5:8444", "127.0.0.2:0", ":8444").
	// When its host is a specific IP, outgoing connections are bound to that IP.
	ListenAddr string
	// HandshakeTimeout bounds an incoming connection's TLS handshake and protocol byte.
	HandshakeTimeout time.Duration
	// AcceptBacklog is how many verified connections of one protocol may wait for Accept.
	AcceptBacklog int
	// MaxHandshakes bounds the incoming connections in their handshake at once; more are
	// closed at once, so a flood of idle connections costs a bounded number of goroutines.
	MaxHandshakes int
	// Revoked, when not nil, is asked about the peer's leaf certificate in every handshake,
	// on both sides of the mutual TLS (Dial and accept), after its chain verified against CA
	// and its node ID was read; an error refuses the connection (wrapped with ErrRevoked).
	// It runs in the handshake's goroutine, possibly many at once, so it must be safe for
	// concurrent use and fast: no I/O beyond a local read (the node reads the revocation
	// list of its local Raft state). It must not keep cert. Connections established before
	// a revocation are checked again by Mux.Recheck, which the owner calls when its list
	// changes.
	Revoked func(cert *x509.Certificate) error
}

// DefaultConfig returns a Config with the timeouts and backlog set; the caller fills in the
// identity and the address.
func DefaultConfig() Config {
	return Config{ListenAddr: ":8444", HandshakeTimeout: 10 * time.Second, AcceptBacklog: 16, MaxHandshakes: 256}
}

// Validate reports the first thing wrong with cfg.
func (c *Config) Validate() error {
	if err := ValidNodeID(c.NodeID); err != nil {
		return fmt.Errorf("clusternet config: %w", err)
	}
	if len(c.Cert.Certificate) == 0 || c.Cert.PrivateKey == nil {
		return errors.New("clusternet config: no node certificate")
	}
	if c.CA == nil {
		return errors.New("clusternet config: no cluster CA")
	}
	if c.ListenAddr == "" {
		return errors.New("clusternet config: no listen address")
	}
	if c.HandshakeTimeout <= 0 {
		return errors.New("clusternet config: handshake timeout must be positive")
	}
	if c.AcceptBacklog < 0 {
		return errors.New("clusternet config: negative accept backlog")
	}
	if c.MaxHandshakes < 0 {
		return errors.New("clusternet config: negative MaxHandshakes")
	}
	return nil
}

// ValidNodeID reports whether id can name a node: 1 to 128 characters of [A-Za-z0-9._-], no
// empty part between dots.
func ValidNodeID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("node ID %q: want 1 to 128 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("node ID %q: character %q not allowed", id, c)
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return fmt.Errorf("node ID %q: empty part between dots (the ID is a URI host)", id)
	}
	return nil
}

// NodeURI returns the URI SAN that names node id in its certificate: "valise-node://<id>".
// The ID is the URI's host: Go's verifier refuses a URI without one under a CA with name
// constraints (issue 16 item 8).
func NodeURI(id string) *url.URL { return &url.URL{Scheme: URIScheme, Host: id} }

// NodeIDFromCert returns the node ID a certificate names: its one "valise-node:" URI SAN.
func NodeIDFromCert(cert *x509.Certificate) (string, error) {
	var id string
	n := 0
	for _, u := range cert.URIs {
		if !strings.EqualFold(u.Scheme, URIScheme) {
			continue
		}
		n++
		id = u.Host
		if u.Opaque != "" {
			id = u.Opaque // "valise-node:<id>", from before issue 16
		}
	}
	switch {
	case n == 0:
		return "", fmt.Errorf("%w: certificate has no %s: URI", ErrPeerID, URIScheme)
	case n > 1:
		return "", fmt.Errorf("%w: certificate has %d %s: URIs", ErrPeerID, n, URIScheme)
	}
	if err := ValidNodeID(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPeerID, err)
	}
	return id, nil
}

// verifyPeer checks a peer's certificate chain against the cluster CA for usage, and then
// with revoked when not nil, and returns the node ID it names; want, when not empty, must be
// that ID.
func verifyPeer(ca *x509.CertPool, revoked func(*x509.Certificate) error, certs []*x509.Certificate, usage x509.ExtKeyUsage, want string) (string, error) {
	if len(certs) == 0 {
		return "", fmt.Errorf("%w: no peer certificate", ErrPeerID)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: ca, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", fmt.Errorf("verify peer certificate: %w", err)
	}
	id, err := NodeIDFromCert(certs[0])
	if err != nil {
		return "", err
	}
	if want != "" && id != want {
		return "", fmt.Errorf("%w: peer is %q, want %q", ErrPeerID, id, want)
	}
	if revoked != nil {
		if err := revoked(certs[0]); err != nil {
			return "", fmt.Errorf("%w: node %s, serial %x: %w", ErrRevoked, id, certs[0].SerialNumber, err)
		}
	}
	return id, nil
}

// Conn is a verified cluster connection, accepted or dialed. Its Mux keeps track of it until
// it is closed, so that Recheck can close it when its peer's certificate gets revoked.
type Conn struct {
	*tls.Conn
	peer  string
	proto byte
	leaf  *x509.Certificate // the peer's certificate
	mux   *Mux
}

// PeerID returns the node ID the peer's certificate names.
func (c *Conn) PeerID() string { return c.peer }

// Proto returns the connection's protocol byte.
func (c *Conn) Proto() byte { return c.proto }

// PeerID returns the verified node ID of the peer of a connection from this package, and false
// for any other connection.
func PeerID(c net.Conn) (string, bool) {
	if cc, ok := c.(*Conn); ok {
		return cc.peer, true
	}
	return "", false
}

func knownProto(p byte) bool {
	return p == ProtoRaft || p == ProtoCall || p == ProtoShard || p == ProtoJoin
}

// Mux is a running cluster port. Its methods are safe for concurrent use.
type Mux struct {
	cfg     Config
	logger  *slog.Logger
	ln      net.Listener
	srvTLS  *tls.Config
	dialer  net.Dialer
	closeCh chan struct{}
	wg      sync.WaitGroup // the accept loop and the handshake goroutines

	mu        sync.Mutex // guards the fields below
	closed    bool
	listeners map[byte]*protoListener // open listeners by protocol
	pending   map[net.Conn]struct{}   // raw conns in handshake, closed by Close
	conns     map[*Conn]struct{}      // verified conns not yet closed, for Recheck
}

// Listen opens the cluster port and starts accepting.
func Listen(cfg Config, logger *slog.Logger) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AcceptBacklog == 0 {
		cfg.AcceptBacklog = DefaultConfig().AcceptBacklog
	}
	if cfg.MaxHandshakes == 0 {
		cfg.MaxHandshakes = DefaultConfig().MaxHandshakes
	}
	leaf, err := x509.ParseCertificate(cfg.Cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse node certificate: %w", err)
	}
	own, err := NodeIDFromCert(leaf)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	if own != cfg.NodeID {
		return nil, fmt.Errorf("node certificate names %q, config says %q", own, cfg.NodeID)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster port %s: %w", cfg.ListenAddr, err)
	}
	m := &Mux{
		cfg:       cfg,
		logger:    logger.With("component", "clusternet", logkey.NodeID, cfg.NodeID),
		ln:        ln,
		closeCh:   make(chan struct{}),
		listeners: make(map[byte]*protoListener),
		pending:   make(map[net.Conn]struct{}),
		conns:     make(map[*Conn]struct{}),
	}
	m.srvTLS = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cfg.Cert},
		ClientAuth:   tls.RequireAnyClientCert, // verified below, against the cluster CA only
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(cfg.CA, cfg.Revoked, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, "")
			return err
		},
	}
	if host, _, err := net.SplitHostPort(cfg.ListenAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			m.dialer.LocalAddr = &net.TCPAddr{IP: ip}
		}
	}
	m.logger.Info("cluster port listening", "addr", ln.Addr().String())
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

// Addr returns the bound listen address (with the real port when the config said 0).
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// NodeID returns this node's ID.
func (m *Mux) NodeID() string { return m.cfg.NodeID }

// Listener returns the listener of connections of protocol proto, creating it on first use.
// Until a listener exists for a protocol, its connections are refused. Closing the returned
// listener refuses that protocol again until the next call; Close of the mux closes them all.
func (m *Mux) Listener(proto byte) (net.Listener, error) {
	if !knownProto(proto) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProto, proto)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if l, ok := m.listeners[proto]; ok {
		return l, nil
	}
	l := &protoListener{mux: m, proto: proto, ch: make(chan *Conn, m.cfg.AcceptBacklog), done: make(chan struct{})}
	m.listeners[proto] = l
	return l, nil
}

// Dial connects to the cluster port at addr for protocol proto. The peer must present a
// certificate from the cluster CA; when wantPeerID is not empty it must name that node. Dial
// returns after the peer acknowledged the protocol.
func (m *Mux) Dial(ctx context.Context, proto byte, addr string, wantPeerID string) (*Conn, error) {
	if !knownProto(proto) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProto, proto)
	}
	select {
	case <-m.closeCh:
		return nil, ErrClosed
	default:
	}
	raw, err := m.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial cluster port %s: %w", addr, err)
	}
	var peer string
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{m.cfg.Cert},
		InsecureSkipVerify: true, // no host name check: verified below by node ID against the cluster CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyPeer(m.cfg.CA, m.cfg.Revoked, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, wantPeerID)
			peer = id
			return err
		},
	}
	tc := tls.Client(raw, cfg)
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = m.clientHandshake(ctx, tc, proto)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		tc.Close()
		cerr := ctx.Err()
		if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded // the conn deadline fired before ctx's timer
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %v", cerr, err)
		}
		return nil, fmt.Errorf("cluster handshake with %s: %w", addr, err)
	}
	_ = tc.SetDeadline(time.Time{})
	return m.track(&Conn{Conn: tc, peer: peer, proto: proto, leaf: tc.ConnectionState().PeerCertificates[0]}), nil
}

func (m *Mux) clientHandshake(ctx context.Context, tc *tls.Conn, proto byte) error {
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if _, err := tc.Write([]byte{proto}); err != nil {
		return fmt.Errorf("send protocol byte: %w", err)
	}
	var ack [1]byte
	if _, err := tc.Read(ack[:]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if ack[0] != ackOK {
		return fmt.Errorf("%w: bad acknowledgement %#x", ErrRefused, ack[0])
	}
	return nil
}

// Close stops accepting, closes every protocol listener and every connection still in its
// handshake, and waits for the mux's goroutines. Established connections are their owners'
// to close.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closeCh)
	err := m.ln.Close()
	for _, l := range m.listeners {
		l.closeLocked()
	}
	clear(m.listeners)
	for c := range m.pending {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}

func (m *Mux) acceptLoop() {
	defer m.wg.Done()
	for {
		raw, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closeCh:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.logger.Error("cluster port accept stopped", logkey.Err, err)
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			raw.Close()
			return
		}
		if len(m.pending) >= m.cfg.MaxHandshakes {
			m.mu.Unlock()
			m.logger.Debug("cluster connection dropped: too many handshakes", "remote", raw.RemoteAddr().String())
			raw.Close()
			continue
		}
		m.pending[raw] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.serveConn(raw)
	}
}

// serveConn runs one incoming connection's handshake and hands it to its protocol listener.
func (m *Mux) serveConn(raw net.Conn) {
	defer m.wg.Done()
	c, l, err := m.handshake(raw)
	m.mu.Lock()
	delete(m.pending, raw)
	m.mu.Unlock()
	if err != nil {
		m.logger.Warn("cluster connection refused", "remote", raw.RemoteAddr().String(), logkey.Err, err)
		raw.Close()
		return
	}
	select {
	case l.ch <- c:
		select {
		case <-l.done: // closed while we sent: nobody will accept it
			l.drain()
		default:
		}
	case <-l.done:
		c.Close()
	}
}

func (m *Mux) handshake(raw net.Conn) (*Conn, *protoListener, error) {
	_ = raw.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	tc := tls.Server(raw, m.srvTLS)
	if err := tc.Handshake(); err != nil {
		return nil, nil, fmt.Errorf("tls handshake: %w", err)
	}
	cs := tc.ConnectionState()
	peer, err := NodeIDFromCert(cs.PeerCertificates[0])
	if err != nil {
		return nil, nil, err
	}
	var p [1]byte
	if _, err := tc.Read(p[:]); err != nil {
		return nil, nil, fmt.Errorf("read protocol byte from %s: %w", peer, err)
	}
	if !knownProto(p[0]) {
		return nil, nil, fmt.Errorf("%w %#x from %s", ErrUnknownProto, p[0], peer)
	}
	m.mu.Lock()
	l := m.listeners[p[0]]
	m.mu.Unlock()
	if l == nil {
		return nil, nil, fmt.Errorf("no listener for protocol %q from %s", p[0], peer)
	}
	if _, err := tc.Write([]byte{ackOK}); err != nil {
		return nil, nil, fmt.Errorf("acknowledge protocol to %s: %w", peer, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return m.track(&Conn{Conn: tc, peer: peer, proto: p[0], leaf: cs.PeerCertificates[0]}), l, nil
}

// protoListener is the net.Listener of one protocol's accepted connections.
type protoListener struct {
	mux   *Mux
	proto byte
	ch    chan *Conn
	done  chan struct{} // closed by closeLocked
	once  sync.Once
}

var _ net.Listener = (*protoListener)(nil)

// Accept returns the next verified connection of the listener's protocol, a *Conn.
func (l *protoListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, fmt.Errorf("accept protocol %q: %w", l.proto, ErrClosed)
	default:
	}
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("accept protocol %q: %w", l.proto, ErrClosed)
	}
}

// Close stops this protocol's listener; connections waiting for Accept are closed.
func (l *protoListener) Close() error {
	l.mux.mu.Lock()
	if l.mux.listeners[l.proto] == l {
		delete(l.mux.listeners, l.proto)
	}
	l.closeLocked()
	l.mux.mu.Unlock()
	return nil
}

func (l *protoListener) closeLocked() {
	l.once.Do(func() { close(l.done) })
	l.drain()
}

// drain closes the connections left waiting for Accept.
func (l *protoListener) drain() {
	for {
		select {
		case c := <-l.ch:
			c.Close()
		default:
			return
		}
	}
}

// Addr returns the mux's listen address.
func (l *protoListener) Addr() net.Addr { return l.mux.Addr() }
