package httpd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// flagReady is ready once its flag is set.
type flagReady struct{ ok atomic.Bool }

func (f *flagReady) Ready() error {
	if !f.ok.Load() {
		return errors.New("no leader")
	}
	return nil
}

// shutdownGuard bounds a test server's shutdown: a hang guard only, never a speed budget.
const shutdownGuard = time.Minute

// startTest starts a server on 127.0.0.1:0 with a self-signed certificate, its default
// config changed by mutate (nil: none) and deps (Ready: a flagReady not yet set, when nil),
// and shuts it down at the test's end. It returns the server and the pool that trusts it.
func startTest(t *testing.T, deps Deps, mutate func(*Config)) (*Server, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Certificate = cert
	if mutate != nil {
		mutate(&cfg)
	}
	if deps.Ready == nil {
		deps.Ready = &flagReady{}
	}
	s, err := New(cfg, deps, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGuard)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, pool
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestServer(t *testing.T) {
	cert, pool := selfSigned(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Certificate = cert
	cfg.CAPEM = []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
	ready := &flagReady{}
	s, err := New(cfg, Deps{Ready: ready}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGuard)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	port := s.Addr().(*net.TCPAddr).Port
	if port == 0 {
		t.Fatal("port 0 was not resolved")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "https://" + s.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path string
		before     func()
		want       int
	}{
		{"healthz", "/healthz", nil, 200},
		{"readyz before a leader", "/readyz", nil, 503},
		{"readyz with a leader", "/readyz", func() { ready.ok.Store(true) }, 200},
		{"ca.pem", "/ca.pem", nil, 200},
		{"anything else", "/api/v1/sends", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			if code, body := get(tc.path); code != tc.want {
				t.Fatalf("GET %s = %d %q, want %d", tc.path, code, body, tc.want)
			}
		})
	}
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
}

func TestConfigValidate(t *testing.T) {
	cert, _ := selfSigned(t)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"defaults with a cert", func(*Config) {}, true},
		{"no listen", func(c *Config) { c.Listen = "" }, false},
		{"no cert", func(c *Config) { c.Certificate = tls.Certificate{} }, false},
		{"tiny header bound", func(c *Config) { c.Limits.HeaderBytes = 512 }, false},
		{"no per-IP cap", func(c *Config) { c.Limits.MaxConnsPerIP = 0 }, false},
		{"zero timeout", func(c *Config) { c.ReadTimeout = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Certificate = cert
			tc.mutate(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
