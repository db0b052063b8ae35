package keyring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExportImport guards issue 18's join: the keys a joining node receives are written as
// init writes them (same files, same modes) and are the cluster's: a data key wrapped on one
// node unwraps on the other, and both sign and trust with the same CA.
func TestExportImport(t *testing.T) {
	k, _ := newKeyring(t)
	b, err := k.Export()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), DirName)
	j, err := Import(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		".": 0o700, kekFile: 0o600, signingFile: 0o600, caKeyFile: 0o600, caCertFile: 0o644,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", name, got, want)
		}
	}
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	w, err := k.Wrap(ctx, "file-1", key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := j.Unwrap(ctx, "file-1", w)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("the imported keyring unwraps %x, %v; want %x", got, err, key)
	}
	if j.Fingerprint() != k.Fingerprint() || !bytes.Equal(j.CAPEM(), k.CAPEM()) {
		t.Fatal("the imported keyring has another CA")
	}
	if !j.signing.Equal(k.signing) {
		t.Fatal("the imported keyring has another signing key")
	}

	t.Run("refuses a directory holding keys", func(t *testing.T) {
		if _, err := Import(dir, b); !errors.Is(err, ErrExists) {
			t.Fatalf("Import over keys = %v, want ErrExists", err)
		}
	})
	t.Run("refuses short key material and leaves nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			edit func(*Bundle)
		}{
			{"short kek", func(b *Bundle) { b.KEK = b.KEK[:16] }},
			{"short seed", func(b *Bundle) { b.SigningSeed = nil }},
			{"bad CA key", func(b *Bundle) { b.CAKeyPEM = []byte("not a key") }},
			{"CA of another cluster", func(b *Bundle) {
				other, _ := newKeyring(t)
				b.CAPEM = other.CAPEM()
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				bad := b
				tc.edit(&bad)
				d := filepath.Join(t.TempDir(), DirName)
				if _, err := Import(d, bad); !errors.Is(err, ErrBadKeyFile) {
					t.Fatalf("Import = %v, want ErrBadKeyFile", err)
				}
				if entries, _ := os.ReadDir(d); len(entries) != 0 {
					t.Fatalf("a failed Import left %d files in %s", len(entries), d)
				}
			})
		}
	})
}

// TestSignNodeCSR: the certificate a joining node gets for its own key names the node chosen
// by the cluster, not what the request asked for, and passes the cluster port's checks.
func TestSignNodeCSR(t *testing.T) {
	k, _ := newKeyring(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "n-other"}, DNSNames: []string{"evil.example.com"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := k.SignNodeCSR("n-joined", csr, 0)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(chain)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := NodeIDFromCert(leaf); err != nil || id != "n-joined" {
		t.Fatalf("NodeIDFromCert = %q, %v", id, err)
	}
	if len(leaf.DNSNames) != 0 || !key.PublicKey.Equal(leaf.PublicKey) {
		t.Fatalf("leaf names %q / has another key", leaf.DNSNames)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Fatalf("verify for %v: %v", usage, err)
		}
	}
	if _, err := k.SignNodeCSR("bad id!", csr, 0); !errors.Is(err, ErrBadNodeID) {
		t.Fatalf("SignNodeCSR(bad id) = %v, want ErrBadNodeID", err)
	}
}
