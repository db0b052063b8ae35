package keyring

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRenewConstrainsAnExistingCA guards issue 16 item 8 for clusters made before it: their
// CA is unconstrained until an operator renews it. Renew makes a constrained CA that signs
// from then on, keeps the old one trusted and in ca.pem during the transition (certificates
// it issued still verify), deletes the old key, survives a crash between its two writes, and
// EndTransition drops the old CA.
func TestRenewConstrainsAnExistingCA(t *testing.T) {
	k, dir := newKeyring(t)
	oldFP := k.Fingerprint()
	oldKey, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	oldLeaf, err := k.IssueServerCert([]string{"files.example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.IssueServerCert([]string{"www.example.com"}, nil); err != nil {
		t.Fatalf("the unconstrained CA refused a public name: %v", err)
	}

	if err := k.Renew(NameConstraints{Domains: []string{"example.org"}}); err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint() == oldFP || !k.Constrained() {
		t.Fatal("Renew kept the old CA, or made an unconstrained one")
	}
	if got := k.TrustedFingerprints(); !slices.Equal(got, []string{k.Fingerprint(), oldFP}) {
		t.Fatalf("trusted = %q, want the new CA then the old", got)
	}
	if _, err := k.IssueServerCert([]string{"www.example.com"}, nil); !errors.Is(err, ErrOutsideConstraints) {
		t.Fatalf("after Renew, a public name = %v, want ErrOutsideConstraints", err)
	}
	newLeaf, err := k.IssueServerCert([]string{"files.example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if newLeaf.Leaf.CheckSignatureFrom(k.CACert()) != nil || newLeaf.Leaf.Issuer.String() == oldLeaf.Leaf.Issuer.String() {
		t.Fatal("the new certificate is not issued by the new CA")
	}
	if key, _ := os.ReadFile(filepath.Join(dir, caKeyFile)); string(key) == string(oldKey) {
		t.Fatal("the old CA key is still in ca.key")
	}
	if pem, _ := os.ReadFile(filepath.Join(dir, caCertFile)); strings.Count(string(pem), "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("ca.pem holds %d certificates, want 2", strings.Count(string(pem), "BEGIN CERTIFICATE"))
	}

	verify := func(t *testing.T, k *Keyring, leaf *x509.Certificate) error {
		t.Helper()
		_, err := leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), DNSName: "files.example.org"})
		return err
	}
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Fingerprint() != k.Fingerprint() || !l.Constrained() {
		t.Fatal("Load does not sign with the renewed CA")
	}
	for name, leaf := range map[string]*x509.Certificate{"old": oldLeaf.Leaf, "new": newLeaf.Leaf} {
		if err := verify(t, l, leaf); err != nil {
			t.Errorf("during the transition the %s CA's certificate does not verify: %v", name, err)
		}
	}

	t.Run("crash between the two writes", func(t *testing.T) {
		crash := filepath.Join(t.TempDir(), DirName)
		if err := os.MkdirAll(crash, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{kekFile, signingFile, caCertFile} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			write(t, crash, f, b)
		}
		write(t, crash, caKeyFile, oldKey) // ca.pem renewed, ca.key not yet
		c, err := Load(crash)
		if err != nil {
			t.Fatalf("keys left by a crash inside Renew do not load: %v", err)
		}
		if c.Fingerprint() != oldFP || len(c.TrustedFingerprints()) != 2 {
			t.Fatalf("after the crash: signing %s, trusted %q", c.Fingerprint(), c.TrustedFingerprints())
		}
	})

	if err := l.EndTransition(); err != nil {
		t.Fatal(err)
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.TrustedFingerprints()) != 1 || verify(t, e, oldLeaf.Leaf) == nil || verify(t, e, newLeaf.Leaf) != nil {
		t.Fatalf("after EndTransition: trusted %q", e.TrustedFingerprints())
	}
}
