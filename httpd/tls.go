package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"valise/internal/logkey"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultObtainTimeout bounds obtaining or loading the managed certificates at Start when
// ManagedTLS.ObtainTimeout is 0.
const DefaultObtainTimeout = 30 * time.Second

// ManagedTLS has certmagic obtain, store and renew the server's certificates, one per name,
// from the issuer given (the cluster CA) into the storage given (the replicated metadata), so
// every node serves the same certificates. It is configured as trap 6 of docs/dependencies.md says: only
// this issuer (never certmagic's default public ACME CA), no OCSP stapling, no ARI, and the
// handshake offers http/1.1 (certmagic's own TLS config offers only acme-tls/1).
type ManagedTLS struct {
	// Storage holds the certificates, their keys and the cluster-wide locks: certstore.Storage
	// on the replicated metadata. Never nil.
	Storage certmagic.Storage
	// Issuer signs the certificates: certstore.Issuer on the cluster CA. Never nil; its
	// IssuerKey must never change.
	Issuer certmagic.Issuer
	// Names are the host names and IP addresses to hold a certificate for (see ServerNames):
	// the listen host, the advertise host, the public_url host, localhost and 127.0.0.1.
	Names []string
	// DefaultServerName is the name whose certificate answers clients that send no SNI (those
	// that connect by IP address); empty means the first of Names.
	DefaultServerName string
	// ObtainTimeout bounds obtaining (or loading from storage) every certificate at Start;
	// 0 means DefaultObtainTimeout. A name that fails then is retried in the background.
	ObtainTimeout time.Duration
	// RenewCheckInterval is how often certmagic's maintenance goroutine checks certificates
	// for renewal; 0 means certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
}

func (m *ManagedTLS) validate() error {
	switch {
	case m.Storage == nil:
		return errors.New("httpd config: managed TLS without storage")
	case m.Issuer == nil:
		return errors.New("httpd config: managed TLS without issuer")
	case len(m.Names) == 0:
		return errors.New("httpd config: managed TLS without names")
	case m.ObtainTimeout < 0 || m.RenewCheckInterval < 0:
		return errors.New("httpd config: managed TLS durations must not be negative")
	}
	return nil
}

// ServerNames returns the names to hold certificates for, deduplicated, in order: the hosts
// of listen and advertise (host or host:port), the host of publicURL, then extra, "localhost"
// and "127.0.0.1". Empty and unspecified hosts (":8443", "0.0.0.0", "::") are left out.
func ServerNames(listen, advertise, publicURL string, extra ...string) []string {
	hostOf := func(s string) string {
		if h, _, err := net.SplitHostPort(s); err == nil {
			return h
		}
		return s
	}
	cands := []string{hostOf(listen), hostOf(advertise)}
	if u, err := url.Parse(publicURL); err == nil && publicURL != "" {
		cands = append(cands, u.Hostname())
	}
	cands = append(cands, extra...)
	cands = append(cands, "localhost", "127.0.0.1")
	var out []string
	for _, c := range cands {
		if c = normName(c); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// normName returns a host name in lower case or an IP address in canonical form, or "" for
// an empty or unspecified one.
func normName(c string) string {
	c = strings.ToLower(strings.Trim(strings.TrimSpace(c), "[]"))
	if ip := net.ParseIP(c); ip != nil {
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	}
	return c
}

// managedCerts is certmagic's state for a started server. Guarded by Server.mu.
type managedCerts struct {
	cache  *certmagic.Cache  // its maintenance goroutine renews; Stop ends it
	magic  *certmagic.Config // never nil
	bg     context.Context   // background obtains and retries; cancel ends them
	cancel context.CancelFunc
	names  []string // every name managed: ManagedTLS.Names, then ManageNames'
}

// intermediateSuites are the TLS 1.2 cipher suites of Mozilla's "intermediate" profile that
// Go implements: ECDHE key exchange and AEAD ciphers only, so no CBC mode, no SHA-1 MAC and no
// static RSA key exchange (issue 16 item 8). TLS 1.3's suites are not configurable in Go and
// are all AEAD.
var intermediateSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// applyProfile sets Mozilla's "intermediate" profile on tc: TLS 1.3, and TLS 1.2 with the
// intermediateSuites only; http/1.1 only (certmagic offers only acme-tls/1: browsers fail).
// Go's own defaults would still accept TLS 1.2 CBC suites with SHA-1 MACs.
func applyProfile(tc *tls.Config) {
	tc.MinVersion = tls.VersionTLS12
	tc.CipherSuites = slices.Clone(intermediateSuites)
	tc.NextProtos = []string{"http/1.1"}
}

// tlsConfig returns the listener's TLS configuration (applyProfile), with the static
// Certificate or, when Managed is set, certmagic's certificates (falling back to the static
// Certificate, if any, for a name certmagic holds none for). Called by Start.
func (s *Server) tlsConfig() (*tls.Config, error) {
	m := s.cfg.Managed
	if m == nil {
		tc := &tls.Config{Certificates: []tls.Certificate{s.cfg.Certificate}}
		applyProfile(tc)
		return tc, nil
	}
	var fallback *tls.Certificate
	if len(s.cfg.Certificate.Certificate) > 0 {
		fallback = &s.cfg.Certificate
	}
	logger := s.logger.With("library", "certmagic")
	zl := zap.New(slogCore{l: logger})
	var current atomic.Pointer[certmagic.Config] // the cache's callback may run on its goroutine
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
			return current.Load(), nil
		},
		RenewCheckInterval: m.RenewCheckInterval,
		Logger:             zl,
	})
	defName := m.DefaultServerName
	if defName == "" {
		defName = m.Names[0]
	}
	magic := certmagic.New(cache, certmagic.Config{
		Issuers:           []certmagic.Issuer{m.Issuer}, // never the public ACME default
		Storage:           m.Storage,
		OCSP:              certmagic.OCSPConfig{DisableStapling: true},
		DisableARI:        true,
		DefaultServerName: defName,
		// The check writes, reads and deletes a test key on every obtain: three journalled
		// Raft commits that prove nothing Raft does not already guarantee.
		DisableStorageCheck: true,
		Logger:              zl,
	})
	current.Store(magic)

	timeout := m.ObtainTimeout
	if timeout == 0 {
		timeout = DefaultObtainTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	var failed []string
	var firstErr error
	for _, name := range m.Names {
		// One name at a time: ManageSync stops at the first failure.
		if err := magic.ManageSync(ctx, []string{name}); err != nil {
			logger.Warn("obtain certificate", "name", name, logkey.Err, err)
			failed = append(failed, name)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	cancel()
	if len(failed) == len(m.Names) && fallback == nil {
		cache.Stop()
		return nil, fmt.Errorf("obtain certificates for %s: %w", strings.Join(failed, ", "), firstErr)
	}
	bg, stopBG := context.WithCancel(context.Background())
	if len(failed) > 0 {
		// certmagic retries these with back-off until bg ends (Shutdown).
		if err := magic.ManageAsync(bg, failed); err != nil {
			logger.Warn("retry certificates in the background", "names", failed, logkey.Err, err)
		}
	}
	s.certs = &managedCerts{cache: cache, magic: magic, bg: bg, cancel: stopBG, names: slices.Clone(m.Names)}

	tc := magic.TLSConfig()
	applyProfile(tc)
	if fallback != nil {
		get := tc.GetCertificate
		tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c, err := get(hello); err == nil {
				return c, nil
			}
			return fallback, nil
		}
	}
	return tc, nil
}

// ManageNames has certmagic hold certificates for names too (a new public_url host): each
// name it does not manage yet is loaded from the storage or obtained from the issuer in the
// background, retried with back-off until it succeeds or the server stops, and renewed from
// then on; until then, such a name gets the fallback Certificate. It does nothing without
// Config.Managed, before Start or after Shutdown. Names are normalised as ServerNames does
// (lower case, canonical IPs; empty and unspecified ones are left out).
func (s *Server) ManageNames(names ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs == nil {
		return nil
	}
	var add []string
	for _, n := range names {
		if n = normName(n); n != "" && !slices.Contains(s.certs.names, n) && !slices.Contains(add, n) {
			add = append(add, n)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := s.certs.magic.ManageAsync(s.certs.bg, add); err != nil {
		return fmt.Errorf("manage certificates for %s: %w", strings.Join(add, ", "), err)
	}
	s.certs.names = append(s.certs.names, add...)
	return nil
}

// stopTLS stops certmagic's maintenance and background retries, if any, and waits for the
// maintenance goroutine. Called by Shutdown after serving ended, and by a failed Start.
func (s *Server) stopTLS() {
	if s.certs == nil {
		return
	}
	s.certs.cancel()
	s.certs.cache.Stop()
	s.certs = nil
}

// slogCore routes certmagic's zap logs to slog.
type slogCore struct {
	l      *slog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = slogCore{}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.l.Enabled(context.Background(), slogLevel(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{l: c.l, fields: append(slices.Clip(c.fields), fields...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.l.LogAttrs(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func (c slogCore) Sync() error { return nil }

// SetCAPEM replaces the CA certificates served at /ca.pem (Config.CAPEM until then): after
// `appliance ca renew`, the new CA then the ones it replaced. Safe for concurrent use.
func (s *Server) SetCAPEM(pem []byte) {
	p := slices.Clone(pem)
	s.caPEM.Store(&p)
}

// servedCAPEM is what /ca.pem serves.
func (s *Server) servedCAPEM() []byte {
	if p := s.caPEM.Load(); p != nil {
		return *p
	}
	return s.cfg.CAPEM
}

// ReissueManaged has the issuer issue anew, at once, the certificate of every name certmagic
// manages, stores it and serves it in place of the old one: after `appliance ca renew`, so
// that the new CA's certificates are served without waiting for the renewal window. It
// returns the names re-issued and, apart, those that failed ("name: reason"); a name that
// failed keeps its old certificate. It does nothing without Config.Managed, before Start or
// after Shutdown.
func (s *Server) ReissueManaged(ctx context.Context) (reissued, failed []string) {
	certs, names := s.managed() // certs.go
	if certs == nil {
		return nil, nil
	}
	for _, name := range names {
		var old []string
		for _, c := range certs.cache.AllMatchingCertificates(name) {
			old = append(old, c.Hash())
		}
		if err := certs.magic.RenewCertSync(ctx, name, true); err != nil {
			failed = append(failed, name+": "+err.Error())
			continue
		}
		cur, err := certs.magic.CacheManagedCertificate(ctx, name)
		if err != nil {
			failed = append(failed, name+": "+err.Error())
			continue
		}
		old = slices.DeleteFunc(old, func(h string) bool { return h == cur.Hash() })
		certs.cache.Remove(old)
		reissued = append(reissued, name)
	}
	return reissued, failed
}
