package keyring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func newKeyring(t *testing.T) (*Keyring, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), DirName)
	k, err := Create(dir)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k, dir
}

func TestCreateLoad(t *testing.T) {
	k, dir := newKeyring(t)
	for name, want := range map[string]os.FileMode{
		".": 0o700, kekFile: 0o600, signingFile: 0o600, caKeyFile: 0o600, caCertFile: 0o644,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", name, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("key directory holds %d entries, want 4 (no temporary files left)", len(entries))
	}

	l, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ctx := context.Background()
	dataKey := bytes.Repeat([]byte{7}, 32)
	w, err := k.Wrap(ctx, "file-1", dataKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Unwrap(ctx, "file-1", w)
	if err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("a key wrapped before Load does not unwrap after: %v", err)
	}
	if !k.PublicKey().Equal(l.PublicKey()) {
		t.Error("signing key changed across Load")
	}
	if k.Fingerprint() != l.Fingerprint() || !bytes.Equal(k.CAPEM(), l.CAPEM()) {
		t.Error("CA changed across Load")
	}
	if l.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", l.Dir(), dir)
	}
}

func TestCreateRefusesExistingKeys(t *testing.T) {
	for _, name := range []string{kekFile, signingFile, caKeyFile, caCertFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Create(dir); !errors.Is(err, ErrExists) {
				t.Fatalf("Create over an existing %s: %v, want ErrExists", name, err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "x" {
				t.Fatal("existing file was overwritten")
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		_, dir := newKeyring(t)
		if _, err := Create(dir); !errors.Is(err, ErrExists) {
			t.Fatalf("second Create: %v, want ErrExists", err)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	_, otherDir := newKeyring(t)
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string)
		want  error
	}{
		{"no directory", func(t *testing.T, dir string) { must(t, os.RemoveAll(dir)) }, ErrMissing},
		{"no cluster.key", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, kekFile))) }, ErrMissing},
		{"no ca.pem", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, caCertFile))) }, ErrMissing},
		{"cluster.key world-readable", func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, kekFile), 0o644)) }, ErrPermissions},
		{"signing.key group-readable", func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, signingFile), 0o640)) }, ErrPermissions},
		{"ca.key world-readable", func(t *testing.T, dir string) { must(t, os.Chmod(filepath.Join(dir, caKeyFile), 0o604)) }, ErrPermissions},
		{"directory open", func(t *testing.T, dir string) { must(t, os.Chmod(dir, 0o755)) }, ErrPermissions},
		{"short key", func(t *testing.T, dir string) { write(t, dir, kekFile, encodeKeyFile(kindKEK, make([]byte, 16))) }, ErrBadKeyFile},
		{"long key", func(t *testing.T, dir string) { write(t, dir, kekFile, encodeKeyFile(kindKEK, make([]byte, 33))) }, ErrBadKeyFile},
		{"wrong kind", func(t *testing.T, dir string) { write(t, dir, kekFile, encodeKeyFile(kindSigning, make([]byte, 32))) }, ErrBadKeyFile},
		{"raw bytes", func(t *testing.T, dir string) { write(t, dir, kekFile, make([]byte, 32)) }, ErrBadKeyFile},
		{"future version", func(t *testing.T, dir string) { write(t, dir, kekFile, []byte("valise-key v9 kek plain\nAAAA\n")) }, ErrBadKeyFile},
		{"sealed", func(t *testing.T, dir string) {
			write(t, dir, kekFile, []byte("valise-key v1 kek sealed argon2id$m=19456,t=2,p=1$c2FsdA\nAAAA\n"))
		}, ErrSealed},
		{"CA key of another cluster", func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(otherDir, caKeyFile))
			must(t, err)
			write(t, dir, caKeyFile, b)
		}, ErrBadKeyFile},
		{"CA certificate garbage", func(t *testing.T, dir string) { write(t, dir, caCertFile, []byte("hello")) }, ErrBadKeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := newKeyring(t)
			tc.spoil(t, dir)
			_, err := Load(dir)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) && tc.want != ErrSealed {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
}

func TestWrapUnwrap(t *testing.T) {
	k, _ := newKeyring(t)
	other, _ := newKeyring(t)
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)

	w1, err := k.Wrap(ctx, "f1", key)
	must(t, err)
	w2, err := k.Wrap(ctx, "f1", key)
	must(t, err)
	if bytes.Equal(w1, w2) {
		t.Error("two wraps of the same key are equal: nonce reused")
	}
	if bytes.Contains(w1, key) {
		t.Error("wrapped blob contains the plain key")
	}
	got, err := k.Unwrap(ctx, "f1", w1)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("round trip: %v", err)
	}

	for _, tc := range []struct {
		name    string
		k       *Keyring
		fileID  string
		wrapped []byte
	}{
		{"wrong file ID", k, "f2", w1},
		{"empty file ID", k, "", w1},
		{"other cluster's KEK", other, "f1", w1},
		{"truncated", k, "f1", w1[:len(w1)-1]},
		{"empty", k, "f1", nil},
		{"unknown version", k, "f1", append([]byte{2}, w1[1:]...)},
		{"extended", k, "f1", append(bytes.Clone(w1), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.k.Unwrap(ctx, tc.fileID, tc.wrapped); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("Unwrap: %v, want ErrUnwrap", err)
			}
		})
	}
	t.Run("every byte tampered", func(t *testing.T) {
		for i := range w1 {
			bad := bytes.Clone(w1)
			bad[i] ^= 0x40
			if _, err := k.Unwrap(ctx, "f1", bad); !errors.Is(err, ErrUnwrap) {
				t.Fatalf("byte %d flipped: Unwrap: %v, want ErrUnwrap", i, err)
			}
		}
	})
	t.Run("bad key length", func(t *testing.T) {
		for _, n := range []int{0, MinDataKey - 1, MaxDataKey + 1} {
			if _, err := k.Wrap(ctx, "f1", make([]byte, n)); !errors.Is(err, ErrBadKey) {
				t.Errorf("Wrap of %d bytes: %v, want ErrBadKey", n, err)
			}
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := k.Wrap(cctx, "f1", key); !errors.Is(err, context.Canceled) {
			t.Errorf("Wrap: %v, want context.Canceled", err)
		}
		if _, err := k.Unwrap(cctx, "f1", w1); !errors.Is(err, context.Canceled) {
			t.Errorf("Unwrap: %v, want context.Canceled", err)
		}
	})
}

func TestSign(t *testing.T) {
	k, _ := newKeyring(t)
	msg := []byte("journal head 42")
	sig, err := k.SignMessage(msg)
	must(t, err)
	if !k.Verify(msg, sig) {
		t.Fatal("signature does not verify")
	}
	if !bytes.Equal(sig, k.Sign(msg)) {
		t.Error("Sign and SignMessage differ (Ed25519 is deterministic)")
	}
	if k.Verify([]byte("journal head 43"), sig) {
		t.Error("signature verifies for another message")
	}
	other, _ := newKeyring(t)
	if other.Verify(msg, sig) {
		t.Error("signature verifies under another cluster's key")
	}
}

func TestFingerprint(t *testing.T) {
	k, _ := newKeyring(t)
	if !regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`).MatchString(k.Fingerprint()) {
		t.Errorf("Fingerprint() = %q, want SHA256: and 43 base64 characters", k.Fingerprint())
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(k.FingerprintHex()) {
		t.Errorf("FingerprintHex() = %q", k.FingerprintHex())
	}
	if block, _ := pem.Decode(k.CAPEM()); block == nil || !bytes.Equal(block.Bytes, k.CACert().Raw) {
		t.Error("CAPEM does not hold the CA certificate")
	}
}

func TestNodeCert(t *testing.T) {
	k, _ := newKeyring(t)
	cert, err := k.IssueNodeCert("node-1", []string{"n1.example", "10.0.0.1"}, []net.IP{net.ParseIP("192.0.2.7")}, 0)
	must(t, err)
	leaf := cert.Leaf
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("node certificate does not verify for usage %v: %v", usage, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), DNSName: "10.0.0.1"}); err != nil {
		t.Errorf("an IP given as host is not an IP SAN: %v", err)
	}
	want := &url.URL{Scheme: "valise-node", Host: "node-1"}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want.String() || want.String() != NodeURI("node-1") {
		t.Errorf("URIs = %v, want [%s]", leaf.URIs, want)
	}
	id, err := NodeIDFromCert(leaf)
	if err != nil || id != "node-1" {
		t.Errorf("NodeIDFromCert = %q, %v", id, err)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < NodeCertValidity || d > NodeCertValidity+2*clockSkew {
		t.Errorf("validity %v, want about %v", d, NodeCertValidity)
	}
	other, _ := newKeyring(t)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other.CertPool()}); err == nil {
		t.Error("node certificate verifies under another cluster's CA")
	}

	for _, bad := range []string{"", "a b", "a/b", "é", strings.Repeat("a", maxNodeID+1), "x:y"} {
		if _, err := k.IssueNodeCert(bad, nil, nil, time.Hour); !errors.Is(err, ErrBadNodeID) {
			t.Errorf("IssueNodeCert(%q): %v, want ErrBadNodeID", bad, err)
		}
	}
}

func TestServerCert(t *testing.T) {
	k, _ := newKeyring(t)
	cert, err := k.IssueServerCert([]string{"valise.example"}, []net.IP{net.ParseIP("192.0.2.1")})
	must(t, err)
	for _, name := range []string{"valise.example", "localhost", "127.0.0.1", "::1", "192.0.2.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), DNSName: name}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server certificate verifies as a client certificate")
	}
	if len(cert.Leaf.URIs) != 0 {
		t.Error("server certificate names a node")
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("private key is %T, want ECDSA (browsers)", cert.PrivateKey)
	}
}

// TestCSRCannotMintNodeIdentity guards the certmagic issuer path: a certificate request that
// asks for a node's URI SAN or client usage gets a plain server certificate.
func TestCSRCannotMintNodeIdentity(t *testing.T) {
	k, _ := newKeyring(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "evil"},
		DNSNames: []string{"web.example"},
		URIs:     []*url.URL{{Scheme: NodeURIScheme, Opaque: "node-1"}},
	}, key)
	must(t, err)
	csr, err := x509.ParseCertificateRequest(der)
	must(t, err)
	chain, err := k.SignServerCSR(csr, 0)
	must(t, err)
	block, rest := pem.Decode(chain)
	if block == nil {
		t.Fatal("no certificate in chain")
	}
	if ca, _ := pem.Decode(rest); ca == nil || !bytes.Equal(ca.Bytes, k.CACert().Raw) {
		t.Error("chain does not end with the CA")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	if len(leaf.URIs) != 0 {
		t.Errorf("CSR got URI SANs %v", leaf.URIs)
	}
	if _, err := NodeIDFromCert(leaf); !errors.Is(err, ErrBadNodeID) {
		t.Errorf("NodeIDFromCert: %v, want ErrBadNodeID", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), DNSName: "web.example"}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("CSR got a client certificate")
	}
}

// TestMutualTLS runs a real handshake on 127.0.0.1 between two node certificates and checks
// each side learns the other's node ID.
func TestMutualTLS(t *testing.T) {
	k, _ := newKeyring(t)
	c1, err := k.IssueNodeCert("node-1", nil, nil, 0)
	must(t, err)
	c2, err := k.IssueNodeCert("node-2", nil, nil, 0)
	must(t, err)
	peerID := func(cs tls.ConnectionState) (string, error) {
		if len(cs.PeerCertificates) == 0 {
			return "", errors.New("no peer certificate")
		}
		return NodeIDFromCert(cs.PeerCertificates[0])
	}
	srvCfg := &tls.Config{
		Certificates: []tls.Certificate{c1},
		ClientCAs:    k.CertPool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	must(t, err)
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- "handshake: " + err.Error()
			return
		}
		id, err := peerID(tc.ConnectionState())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- id
		_, _ = io.Copy(io.Discard, conn)
	}()
	cliCfg := &tls.Config{
		Certificates: []tls.Certificate{c2},
		RootCAs:      k.CertPool(),
		MinVersion:   tls.VersionTLS13,
		// Peers are checked by node ID, not address: skip the host name check only, keep the
		// chain check.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			opts := x509.VerifyOptions{Roots: k.CertPool(), Intermediates: x509.NewCertPool()}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return err
			}
			id, err := peerID(cs)
			if err == nil && id != "node-1" {
				err = errors.New("peer is " + id)
			}
			return err
		},
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), cliCfg)
	must(t, err)
	conn.Close()
	if id := <-got; id != "node-2" {
		t.Fatalf("server saw peer %q, want node-2", id)
	}
}

func FuzzUnwrap(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "keys")
	k, err := Create(dir)
	if err != nil {
		f.Fatal(err)
	}
	w, err := k.Wrap(context.Background(), "f1", make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("f1", w)
	f.Add("f1", []byte{})
	f.Add("", []byte{1})
	f.Add("f1", w[:29])
	f.Fuzz(func(t *testing.T, fileID string, wrapped []byte) {
		key, err := k.Unwrap(context.Background(), fileID, wrapped)
		if err == nil && (fileID != "f1" || !bytes.Equal(wrapped, w) || len(key) != 32) {
			t.Fatalf("Unwrap accepted a forged blob")
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add(encodeKeyFile(kindKEK, make([]byte, 32)))
	f.Add([]byte("valise-key v1 kek sealed x\n"))
	f.Add([]byte("valise-key v1 kek plain\n!!!\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := parseKeyFile(data, kindKEK, 32)
		if err == nil && len(key) != 32 {
			t.Fatalf("accepted a key of %d bytes", len(key))
		}
	})
}

func BenchmarkWrapUnwrap(b *testing.B) {
	k, err := Create(filepath.Join(b.TempDir(), DirName))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := make([]byte, 32)
	for b.Loop() {
		w, err := k.Wrap(ctx, "file-id", key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Unwrap(ctx, "file-id", w); err != nil {
			b.Fatal(err)
		}
	}
}
