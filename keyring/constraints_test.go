package keyring

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func newConstrained(t *testing.T) *Keyring {
	t.Helper()
	extra, err := ParseIPRange("203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	k, err := CreateConstrained(filepath.Join(t.TempDir(), DirName), NameConstraints{
		Domains: []string{"Example.ORG."}, IPRanges: []*net.IPNet{extra},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestConstrainedCAAtInit guards issue 16 item 8: the CA a new cluster's users are told to
// trust could sign a certificate for any public name. A CA from CreateConstrained carries
// critical name constraints: localhost and the organisation's domains, the private ranges and
// the addresses given, and nothing else; Load reads them back.
func TestConstrainedCAAtInit(t *testing.T) {
	k := newConstrained(t)
	data, err := os.ReadFile(filepath.Join(k.Dir(), caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.PermittedDNSDomainsCritical {
		t.Error("name constraints not critical")
	}
	if want := []string{"localhost", "example.org"}; !slices.Equal(ca.PermittedDNSDomains, want) {
		t.Errorf("permitted domains = %q, want %q", ca.PermittedDNSDomains, want)
	}
	var ranges []string
	for _, r := range ca.PermittedIPRanges {
		ranges = append(ranges, r.String())
	}
	want := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7", "203.0.113.7/32"}
	if !slices.Equal(ranges, want) {
		t.Errorf("permitted ranges = %q, want %q", ranges, want)
	}
	if len(ca.ExcludedDNSDomains)+len(ca.ExcludedIPRanges)+len(ca.PermittedURIDomains)+len(ca.PermittedEmailAddresses) != 0 {
		t.Error("unexpected constraints of other kinds")
	}
	l, err := Load(k.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Constrained() || !slices.Equal(l.PermittedNames(), append([]string{"localhost", "example.org"}, want...)) {
		t.Errorf("after Load: constrained %v, permitted %q", l.Constrained(), l.PermittedNames())
	}
	if u, _ := newKeyring(t); u.Constrained() || !slices.Equal(u.PermittedNames(), []string{"any name"}) {
		t.Error("Create made a constrained CA; it keeps the old behaviour")
	}
}

// TestConstrainedCARefusesForeignNames guards issue 16 item 8: the cluster CA must never be
// asked to sign a name outside its constraints; the issuer refuses a request for example.com
// (what a stolen node or a hostile public_url would ask for) and says which name and why.
func TestConstrainedCARefusesForeignNames(t *testing.T) {
	k := newConstrained(t)
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"localhost", true},
		{"example.org", true},
		{"files.example.org", true},
		{"FILES.Example.Org", true},
		{"10.1.2.3", true},
		{"172.31.255.1", true},
		{"192.168.1.10", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"fd12::1", true},
		{"203.0.113.7", true},
		{"example.com", false},
		{"www.google.com", false},
		{"notexample.org", false},
		{"example.org.evil.com", false},
		{"172.32.0.1", false},
		{"203.0.113.8", false},
		{"8.8.8.8", false},
		{"2001:db8::1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.Permits(tc.name); got != tc.ok {
				t.Fatalf("Permits(%s) = %v, want %v", tc.name, got, tc.ok)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.CertificateRequest{}
			if ip := net.ParseIP(tc.name); ip != nil {
				tmpl.IPAddresses = []net.IP{ip}
			} else {
				tmpl.DNSNames = []string{tc.name}
			}
			der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
			if err != nil {
				t.Fatal(err)
			}
			csr, _ := x509.ParseCertificateRequest(der)
			_, err = k.SignServerCSR(csr, 0)
			if tc.ok && err != nil {
				t.Fatalf("SignServerCSR(%s): %v", tc.name, err)
			}
			if !tc.ok && !errors.Is(err, ErrOutsideConstraints) {
				t.Fatalf("SignServerCSR(%s) = %v, want ErrOutsideConstraints", tc.name, err)
			}
			_, err = k.IssueServerCert([]string{tc.name}, nil)
			if tc.ok != (err == nil) {
				t.Fatalf("IssueServerCert(%s) = %v", tc.name, err)
			}
		})
	}
	hosts, ips, refused := k.FilterPermitted([]string{"files.example.org", "host.example.com", "10.0.0.1"}, []net.IP{net.ParseIP("8.8.4.4")})
	if !slices.Equal(hosts, []string{"files.example.org"}) || len(ips) != 1 || !slices.Equal(refused, []string{"host.example.com", "8.8.4.4"}) {
		t.Errorf("FilterPermitted = %q %v, refused %q", hosts, ips, refused)
	}
	if _, err := k.IssueNodeCert("n-1", []string{"node.example.com"}, nil, 0); !errors.Is(err, ErrOutsideConstraints) {
		t.Errorf("IssueNodeCert outside the constraints = %v, want ErrOutsideConstraints", err)
	}
}

// TestVerifierRejectsLeafOutsideConstraints guards issue 16 item 8 from the client's side:
// even a certificate the CA key signed directly (a stolen key, a bug in the issuer's checks)
// for a name outside the constraints fails Go's x509 verification against the cluster CA,
// while one inside them, with the node's URI SAN, verifies.
func TestVerifierRejectsLeafOutsideConstraints(t *testing.T) {
	k := newConstrained(t)
	a := k.auth()
	leaf := func(t *testing.T, dns string, ip net.IP) *x509.Certificate {
		t.Helper()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial, _ := newSerial()
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: dns},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if dns != "" {
			tmpl.DNSNames = []string{dns}
		}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key) // no check: the raw key
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	opts := x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, tc := range []struct {
		name string
		dns  string
		ip   net.IP
		ok   bool
	}{
		{"public name", "www.example.com", nil, false},
		{"public address", "", net.ParseIP("8.8.8.8"), false},
		{"organisation's name", "files.example.org", nil, true},
		{"private address", "", net.ParseIP("192.168.4.2"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := leaf(t, tc.dns, tc.ip).Verify(opts)
			if tc.ok && err != nil {
				t.Fatalf("verify: %v", err)
			}
			var inv x509.CertificateInvalidError
			if !tc.ok && (!errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName) {
				t.Fatalf("verify = %v, want CANotAuthorizedForThisName", err)
			}
		})
	}
	node, err := k.IssueNodeCert("n-1", []string{"localhost"}, []net.IP{net.ParseIP("10.0.0.5")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Leaf.Verify(x509.VerifyOptions{Roots: k.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("a node certificate with its URI SAN does not verify: %v", err)
	}
}
