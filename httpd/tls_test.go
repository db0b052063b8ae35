package httpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"valise/certstore"
	"valise/keyring"
	"valise/raftfsm/rafttest"
)

// alwaysReady answers /readyz with 200.
type alwaysReady struct{}

func (alwaysReady) Ready() error { return nil }

// managedEnv is certmagic's storage on a node's metadata store and the cluster CA's issuer.
type managedEnv struct {
	keys    *keyring.Keyring
	storage *certstore.Storage
	issuer  *certstore.Issuer
}

func newKeys(t *testing.T) *keyring.Keyring {
	t.Helper()
	keys, err := keyring.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func newManagedEnv(t *testing.T, keys *keyring.Keyring, holder string, store certstore.Store) managedEnv {
	t.Helper()
	scfg := certstore.DefaultConfig()
	scfg.Holder = holder
	storage, err := certstore.New(scfg, certstore.Deps{Store: store, Sealer: keys, Logger: rafttest.TestLogger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close() })
	issuer, err := certstore.NewIssuer(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return managedEnv{keys: keys, storage: storage, issuer: issuer}
}

// startManaged starts a server on 127.0.0.1:0 with certmagic over env; Shutdown at cleanup.
func startManaged(t *testing.T, env managedEnv, fallback tls.Certificate) (*Server, error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.CAPEM = env.keys.CAPEM()
	cfg.Certificate = fallback
	cfg.Managed = &ManagedTLS{
		Storage:           env.storage,
		Issuer:            env.issuer,
		Names:             ServerNames(cfg.Listen, "", "https://Files.Example.org:8443/"),
		DefaultServerName: "127.0.0.1",
		ObtainTimeout:     rafttest.WaitTimeout,
	}
	s, err := New(cfg, Deps{Ready: alwaysReady{}}, rafttest.TestLogger(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if s.certs != nil {
			t.Error("certmagic still running after Shutdown")
		}
	})
	return s, nil
}

// getHealthz sends GET /healthz on conn and requires 200.
func getHealthz(t *testing.T, conn *tls.Conn) {
	t.Helper()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %d", resp.StatusCode)
	}
}

// TestManagedTLSFromClusterCA runs certmagic as the node does (issue 11, docs/dependencies.md, trap 6):
// certificates from the cluster CA, stored in the replicated metadata, served over HTTP/1.1 to
// a client that trusts only the cluster CA, by IP address without SNI and by name with SNI.
// Nothing reaches the network: the test passes offline.
func TestManagedTLSFromClusterCA(t *testing.T) {
	c := rafttest.NewCluster(t, 1)
	env := newManagedEnv(t, newKeys(t), "node-1", c.Store(c.Leader(t)))
	s, err := startManaged(t, env, tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("configured offline", func(t *testing.T) {
		magic := s.certs.magic
		if len(magic.Issuers) != 1 || magic.Issuers[0].IssuerKey() != certstore.IssuerKey {
			t.Errorf("issuers = %v, want only the cluster CA", magic.Issuers)
		}
		for _, iss := range magic.Issuers {
			if acme, ok := iss.(*certmagic.ACMEIssuer); ok {
				t.Errorf("an ACME issuer is configured, directory %q", acme.CA)
			}
		}
		if !magic.OCSP.DisableStapling || !magic.DisableARI {
			t.Errorf("OCSP stapling off = %v, ARI off = %v: both must be off", magic.OCSP.DisableStapling, magic.DisableARI)
		}
		if magic.Storage != certmagic.Storage(env.storage) {
			t.Errorf("storage = %T, want certstore", magic.Storage)
		}
	})

	ca := env.keys.CACert()
	for _, tc := range []struct {
		name       string
		serverName string // "" dials by IP: crypto/tls sends no SNI for an IP address
		wantName   string
	}{
		{"by IP without SNI", "", "127.0.0.1"},
		{"localhost with SNI", "localhost", "localhost"},
		{"public_url host with SNI", "files.example.org", "files.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{
				RootCAs:    env.keys.CertPool(), // only the cluster CA
				ServerName: tc.serverName,
				NextProtos: []string{"h2", "http/1.1"},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN = %q, want http/1.1", st.NegotiatedProtocol)
			}
			if len(st.VerifiedChains) == 0 {
				t.Fatal("no verified chain")
			}
			chain := st.VerifiedChains[0]
			if !bytes.Equal(chain[len(chain)-1].Raw, ca.Raw) {
				t.Errorf("chain ends at %s, want the cluster CA", chain[len(chain)-1].Subject)
			}
			if err := st.PeerCertificates[0].VerifyHostname(tc.wantName); err != nil {
				t.Errorf("served certificate: %v", err)
			}
			getHealthz(t, conn)
		})
	}

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: env.keys.CertPool(), MaxVersion: tls.VersionTLS11})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})

	t.Run("stored in the metadata", func(t *testing.T) {
		ctx := context.Background()
		for _, name := range []string{"127.0.0.1", "localhost", "files.example.org"} {
			prefix := "certificates/" + certstore.IssuerKey + "/" + name + "/" + name
			for _, ext := range []string{".crt", ".key", ".json"} {
				if !env.storage.Exists(ctx, prefix+ext) {
					t.Errorf("%s not in storage", prefix+ext)
				}
			}
		}
		keys, err := env.storage.List(ctx, "", true)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, "acme") {
				t.Errorf("ACME data in storage: %s", k)
			}
		}
	})
}

// dialLeaf connects to s by name, trusting only the cluster CA, checks the connection with
// GET /healthz and returns the certificate served.
func dialLeaf(t *testing.T, s *Server, keys *keyring.Keyring, serverName string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: keys.CertPool(), ServerName: serverName})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0].Raw
	getHealthz(t, conn)
	return leaf
}

// TestManagedTLSAcrossNodes: every node serves the certificates one node obtained, since they
// live in the replicated metadata. A follower whose node does not forward writes to the leader
// cannot obtain one itself: with a static certificate it serves that meanwhile; with none, its
// Start fails with the reason rather than serving nothing.
func TestManagedTLSAcrossNodes(t *testing.T) {
	c := rafttest.NewCluster(t, 3)
	leader := c.Leader(t)
	followers := c.Followers(t)
	keys := newKeys(t)

	// Before any node obtained: the follower serves its static certificate.
	early := newManagedEnv(t, keys, c.ID(followers[0]), c.Store(followers[0]))
	static, err := keys.IssueServerCert([]string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := startManaged(t, early, static)
	if err != nil {
		t.Fatalf("Start with a fallback certificate: %v", err)
	}
	if !bytes.Equal(dialLeaf(t, s, keys, "localhost"), static.Leaf.Raw) {
		t.Error("the follower does not serve its static fallback")
	}
	if _, err := startManaged(t, early, tls.Certificate{}); err == nil {
		t.Fatal("Start with nothing to serve succeeded")
	}

	// The leader obtains; the other follower then loads what it stored.
	onLeader, err := startManaged(t, newManagedEnv(t, keys, c.ID(leader), c.Store(leader)), tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}
	c.RequireSameState(t)
	onFollower, err := startManaged(t, newManagedEnv(t, keys, c.ID(followers[1]), c.Store(followers[1])), tls.Certificate{})
	if err != nil {
		t.Fatalf("a follower could not load the certificates the leader stored: %v", err)
	}
	for _, name := range []string{"localhost", "files.example.org"} {
		if !bytes.Equal(dialLeaf(t, onLeader, keys, name), dialLeaf(t, onFollower, keys, name)) {
			t.Errorf("%s: the leader and the follower serve different certificates", name)
		}
	}
}

func TestServerNames(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		listen, advertise, publicURL string
		want                         []string
	}{
		{"all interfaces", ":8443", "", "", []string{"localhost", "127.0.0.1"}},
		{"unspecified IPs", "0.0.0.0:8443", "[::]:1", "", []string{"localhost", "127.0.0.1"}},
		{"every source", "10.0.0.5:8443", "node1.example.org", "https://Files.Example.org/", []string{"10.0.0.5", "node1.example.org", "files.example.org", "localhost", "127.0.0.1"}},
		{"IPv6 and duplicates", "[fd00::1]:8443", "fd00::1", "https://127.0.0.1:8443", []string{"fd00::1", "127.0.0.1", "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ServerNames(tc.listen, tc.advertise, tc.publicURL); !slices.Equal(got, tc.want) {
				t.Errorf("ServerNames = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestManagedTLSConfigValidate: a managed configuration needs its storage, issuer and names,
// and then no static certificate.
func TestManagedTLSConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.Managed = &ManagedTLS{Storage: &certmagic.FileStorage{Path: t.TempDir()}, Issuer: &certstore.Issuer{}, Names: []string{"localhost"}}
		return c
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		valid bool
	}{
		{"managed without static certificate", func(*Config) {}, true},
		{"no storage", func(c *Config) { c.Managed.Storage = nil }, false},
		{"no issuer", func(c *Config) { c.Managed.Issuer = nil }, false},
		{"no names", func(c *Config) { c.Managed.Names = nil }, false},
		{"neither managed nor static", func(c *Config) { c.Managed = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.valid {
				t.Errorf("Validate = %v, want valid %v", err, tc.valid)
			}
		})
	}
}

// TestManageNames: a name added once the server runs (a new public_url host) gets its own
// certificate from the cluster CA, obtained in the background and stored in the metadata;
// names already managed, empty or unspecified ones are left alone.
func TestManageNames(t *testing.T) {
	c := rafttest.NewCluster(t, 1)
	env := newManagedEnv(t, newKeys(t), "node-1", c.Store(c.Leader(t)))
	s, err := startManaged(t, env, tls.Certificate{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ManageNames("New.Example.org", "localhost", "", "0.0.0.0", "new.example.org"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	names := slices.Clone(s.certs.names)
	s.mu.Unlock()
	if want := append(ServerNames("127.0.0.1:0", "", "https://Files.Example.org:8443/"), "new.example.org"); !slices.Equal(names, want) {
		t.Fatalf("managed names %q, want %q", names, want)
	}
	deadline := time.Now().Add(rafttest.WaitTimeout)
	for {
		conn, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: env.keys.CertPool(), ServerName: "new.example.org"})
		if err == nil {
			getHealthz(t, conn)
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate for new.example.org within %v: %v", rafttest.WaitTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
	key := "certificates/" + certstore.IssuerKey + "/new.example.org/new.example.org.crt"
	if !env.storage.Exists(context.Background(), key) {
		t.Fatalf("%s not in storage", key)
	}
}
