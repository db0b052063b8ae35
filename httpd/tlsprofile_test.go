package httpd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"valise/keyring"
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
			s, pool := startTest(t, Deps{Ready: alwaysReady{}}, nil)
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

// TestReissueAfterCARenew guards issue 16 item 8's transition: once `appliance ca renew`
// replaced an unconstrained CA, the node serves certificates from the new CA at once (not at
// the next renewal window) and /ca.pem carries both CAs, while a name the new CA may not
// certify keeps its old certificate and is reported.
func TestReissueAfterCARenew(t *testing.T) {
	c := rafttest.NewCluster(t, 1)
	keys := newKeys(t)
	env := newManagedEnv(t, keys, "node-1", c.Store(c.Leader(t)))
	s, err := startManaged(t, env, tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}
	oldCA := keys.CACert()
	if err := s.ManageNames("www.example.com"); err != nil {
		t.Fatal(err)
	}
	// The background obtain of the new name is done once it is served.
	deadline := time.Now().Add(rafttest.WaitTimeout)
	for {
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: keys.CertPool(), ServerName: "www.example.com"})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("www.example.com never served: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}

	if err := keys.Renew(keyring.NameConstraints{Domains: []string{"example.org"}}); err != nil {
		t.Fatal(err)
	}
	s.SetCAPEM(keys.CAPEM())
	reissued, failed := s.ReissueManaged(context.Background())
	if !slices.Contains(reissued, "files.example.org") || !slices.Contains(reissued, "127.0.0.1") {
		t.Errorf("reissued %q", reissued)
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "www.example.com: ") {
		t.Errorf("failed %q, want www.example.com alone", failed)
	}
	for _, name := range []string{"files.example.org", "localhost", "127.0.0.1"} {
		leaf, err := x509.ParseCertificate(dialLeaf(t, s, keys, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := leaf.CheckSignatureFrom(keys.CACert()); err != nil {
			t.Errorf("%s: served certificate not from the new CA: %v", name, err)
		}
	}
	leaf, _ := x509.ParseCertificate(dialLeaf(t, s, keys, "www.example.com"))
	if leaf == nil || leaf.CheckSignatureFrom(oldCA) != nil {
		t.Error("www.example.com lost its old certificate")
	}
	resp := httpsGet(t, s.Addr().String(), keys.CertPool(), "/ca.pem")
	if strings.Count(resp, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("/ca.pem holds %d certificates, want the new CA and the old", strings.Count(resp, "BEGIN CERTIFICATE"))
	}
}

// httpsGet fetches path over HTTPS from addr as localhost, trusting pool, and returns the body.
func httpsGet(t *testing.T, addr string, pool *x509.CertPool, path string) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Minute}).Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
