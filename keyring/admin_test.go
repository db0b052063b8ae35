package keyring

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"
)

// TestAdminCert: an admin certificate names its administrator under a constrained CA, and
// verifies for client authentication only; a node certificate names no administrator
// (issue 20: the admin port refuses it).
func TestAdminCert(t *testing.T) {
	k, err := CreateConstrained(t.TempDir(), NameConstraints{Domains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	_, cert, err := k.SignAdminCSR("alice", "manager", csr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("admin certificate under a constrained CA: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("an admin certificate verifies as a server")
	}
	if name, err := AdminNameFromCert(cert); err != nil || name != "alice" {
		t.Fatalf("AdminNameFromCert = %q, %v", name, err)
	}
	if _, err := NodeIDFromCert(cert); err == nil {
		t.Fatal("an admin certificate names a node")
	}
	node, err := k.IssueNodeCert("n1", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AdminNameFromCert(node.Leaf); !errors.Is(err, ErrBadAdminName) {
		t.Fatalf("AdminNameFromCert(node certificate) = %v, want ErrBadAdminName", err)
	}
	for _, bad := range []string{"", "Alice", "a b", "a..b", ".a", "a/b", string(make([]byte, 65))} {
		if err := CheckAdminName(bad); !errors.Is(err, ErrBadAdminName) {
			t.Errorf("CheckAdminName(%q) = %v, want ErrBadAdminName", bad, err)
		}
		if _, _, err := k.SignAdminCSR(bad, "manager", csr); err == nil {
			t.Errorf("SignAdminCSR(%q) signed", bad)
		}
	}
}
