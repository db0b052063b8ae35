package certstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
)

func newCSR(t *testing.T, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// TestIssuerSignsWithClusterCA: the issuer's certificates chain to the cluster CA for the
// requested names, and a request cannot smuggle in a node identity (URI SAN).
func TestIssuerSignsWithClusterCA(t *testing.T) {
	keys := newKeys(t)
	iss, err := NewIssuer(keys, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if iss.IssuerKey() != IssuerKey || IssuerKey != "valise-cluster-ca" {
		t.Fatalf("IssuerKey = %q: it must stay constant", iss.IssuerKey())
	}
	for _, tc := range []struct {
		name   string
		tmpl   x509.CertificateRequest
		verify string
	}{
		{"dns name", x509.CertificateRequest{DNSNames: []string{"localhost"}}, "localhost"},
		{"ip address", x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, "127.0.0.1"},
		{"node identity dropped", x509.CertificateRequest{
			DNSNames: []string{"files.example.org"},
			URIs:     []*url.URL{{Scheme: "valise-node", Opaque: "node-1"}},
		}, "files.example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, err := iss.Issue(context.Background(), newCSR(t, &tc.tmpl))
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(ic.Certificate)
			if block == nil {
				t.Fatal("no PEM certificate")
			}
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if ca, _ := pem.Decode(rest); ca == nil {
				t.Error("chain without the CA certificate")
			}
			_, err = leaf.Verify(x509.VerifyOptions{DNSName: tc.verify, Roots: keys.CertPool()})
			if err != nil {
				t.Errorf("verify against the cluster CA: %v", err)
			}
			if len(leaf.URIs) != 0 {
				t.Errorf("leaf carries URI SANs %v", leaf.URIs)
			}
			if life := time.Until(leaf.NotAfter); life > 31*24*time.Hour {
				t.Errorf("leaf valid for %v, want about 30 days", life)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := iss.Issue(ctx, newCSR(t, &x509.CertificateRequest{DNSNames: []string{"x"}})); !errors.Is(err, context.Canceled) {
		t.Errorf("Issue with an ended context = %v", err)
	}
	if _, err := NewIssuer(nil, 0); err == nil {
		t.Error("NewIssuer(nil) succeeded")
	}
}
