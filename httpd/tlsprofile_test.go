package httpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"testing"
	"time"

	"valise/raftfsm/rafttest"
)

// TestTLSWeakClientRefused guards issue 16 item 8: the public HTTPS port followed Go's
// defaults and let a TLS 1.2 client negotiate a CBC suite with a SHA-1 MAC. It must follow
// Mozilla's "intermediate" profile: TLS 1.3, and TLS 1.2 only with ECDHE and AEAD suites;
// TLS 1.0 and 1.1 never. Both listener kinds are checked: a static certificate and
// certmagic's managed ones.
func TestTLSWeakClientRefused(t *testing.T) {
	type server struct {
		addr string
		pool *x509.CertPool
	}
	servers := map[string]func(t *testing.T) server{
		"static certificate": func(t *testing.T) server {
			cert, pool := selfSigned(t)
			cfg := DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			cfg.Certificate = cert
			s, err := New(cfg, Deps{Ready: alwaysReady{}}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.Shutdown(ctx)
			})
			return server{s.Addr().String(), pool}
		},
		"managed certificates": func(t *testing.T) server {
			c := rafttest.NewCluster(t, 1)
			env := newManagedEnv(t, newKeys(t), "node-1", c.Store(c.Leader(t)))
			s, err := startManaged(t, env, tls.Certificate{})
			if err != nil {
				t.Fatal(err)
			}
			return server{s.Addr().String(), env.keys.CertPool()}
		},
	}
	cbcSHA1 := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	cases := []struct {
		name     string
		min, max uint16
		suites   []uint16
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
		{"TLS 1.2 ECDHE AES-GCM", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 ECDHE ChaCha20-Poly1305", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.2 CBC with SHA-1 only", tls.VersionTLS12, tls.VersionTLS12, cbcSHA1, false},
		{"TLS 1.2 CBC with SHA-256 only", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}, false},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, cbcSHA1, false},
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, cbcSHA1, false},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					conn, err := tls.Dial("tcp", srv.addr, &tls.Config{
						RootCAs: srv.pool, ServerName: "localhost",
						MinVersion: tc.min, MaxVersion: tc.max, CipherSuites: tc.suites,
					})
					if !tc.ok {
						if err == nil {
							st := conn.ConnectionState()
							conn.Close()
							t.Fatalf("handshake succeeded with %s over %s, want refused", tls.CipherSuiteName(st.CipherSuite), tls.VersionName(st.Version))
						}
						return
					}
					if err != nil {
						t.Fatalf("handshake refused: %v", err)
					}
					defer conn.Close()
					getHealthz(t, conn)
				})
			}
		})
	}
}
