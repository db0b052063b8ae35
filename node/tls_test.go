package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/hashicorp/raft"

	"valise/certstore"
	"valise/keyring"
	"valise/raftfsm"
)

// managedCertKey is where certmagic keeps the certificate of the name 127.0.0.1, under
// certstore's prefix in the metadata.
var managedCertKey = certmagic.StorageKeys.SiteCert(certstore.IssuerKey, "127.0.0.1")

// servedCert connects to the node's HTTPS port by IP, so without SNI, trusting only the
// cluster CA and offering h2 and http/1.1, and returns the leaf it was served. It fails the
// test unless http/1.1 was negotiated (certmagic's own TLS config offers only acme-tls/1) and
// the leaf names 127.0.0.1 alone, as certmagic's per-name certificates do (the fallback
// certificate issued at start names localhost and ::1 too).
func servedCert(t *testing.T, dataDir, httpsAddr string) *x509.Certificate {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "keys", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no CA in ca.pem")
	}
	_, port, err := net.SplitHostPort(httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
	})
	if err != nil {
		t.Fatalf("connect by IP trusting only the cluster CA: %v", err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("negotiated %q, want http/1.1", st.NegotiatedProtocol)
	}
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("served certificate names %v %v: want 127.0.0.1 alone, as certmagic obtains it", leaf.DNSNames, leaf.IPAddresses)
	}
	return leaf
}

// dialCert connects to the node's HTTPS port on 127.0.0.1 with serverName as SNI, trusting
// only the cluster CA, and returns the leaf served, or the handshake's error (no certificate
// names serverName yet).
func dialCert(t *testing.T, dataDir, httpsAddr, serverName string) (*x509.Certificate, error) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "keys", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	_, port, err := net.SplitHostPort(httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: serverName,
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// storedManagedCert opens the stopped node's metadata (Raft over an in-memory transport, as
// init does) and returns the certificate certmagic stored for 127.0.0.1, sealed by the
// cluster key, with the names of every certificate stored.
func storedManagedCert(t *testing.T, cfg Config) (*x509.Certificate, []string) {
	t.Helper()
	keys, err := keyring.Load(cfg.KeyDirPath())
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress("127.0.0.1:1"))
	defer trans.Close()
	n := &instance{cfg: cfg}
	store, err := raftfsm.Open(n.raftConfig(), raftfsm.Deps{Transport: trans, Signer: headSigner{keys}, Logger: newLogger(LogConfig{Level: "error"}, t.Output())})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	scfg := certstore.DefaultConfig()
	scfg.Holder = "test"
	cs, err := certstore.New(scfg, certstore.Deps{Store: store, Sealer: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var raw []string
	err = store.Scan([]byte(certstore.Prefix), func(it raftfsm.Item) error {
		raw = append(raw, string(it.Key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(raw, certstore.Prefix+"data/"+managedCertKey) {
		t.Fatalf("no %s under %s in the metadata; there: %q", managedCertKey, certstore.Prefix, raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := cs.Load(ctx, managedCertKey)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", managedCertKey)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	names, err := cs.List(ctx, "certificates/"+certstore.IssuerKey, false)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, names
}
