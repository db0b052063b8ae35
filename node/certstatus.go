package node

import (
	"crypto/x509"
	"encoding/pem"
	"time"

	"valise/adminapi"
)

// certificates lists the node's certificates with their expiry for Status: the cluster CAs
// (the signing one, then those a renewal replaced, still trusted), this node's cluster port
// certificate, and the HTTPS certificates served now. Memory only: no network, no storage.
func (n *instance) certificates(now time.Time) []adminapi.CertInfo {
	out := []adminapi.CertInfo{}
	for i, ca := range trustedCAs(n.keys.CAPEM()) {
		name := "cluster CA"
		if i > 0 {
			name = "cluster CA (replaced, still trusted)"
		}
		out = append(out, certInfo(name, ca, now))
	}
	if n.nodeLeaf != nil {
		out = append(out, certInfo("node certificate", n.nodeLeaf, now))
	}
	if n.https != nil {
		for _, c := range n.https.ServedCertificates() {
			name := "HTTPS"
			if c.Name != "" {
				name += " " + c.Name
			}
			out = append(out, certInfo(name, c.Leaf, now))
		}
	}
	return out
}

// certInfo describes c; its subject is its common name or, without one (an IP address
// certificate), its first name.
func certInfo(name string, c *x509.Certificate, now time.Time) adminapi.CertInfo {
	subject := c.Subject.CommonName
	switch {
	case subject != "":
	case len(c.DNSNames) > 0:
		subject = c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		subject = c.IPAddresses[0].String()
	}
	return adminapi.NewCertInfo(name, subject, c.NotAfter, now)
}

// trustedCAs parses ca.pem's certificates, the signing CA first; one that does not parse is
// left out (the keyring parsed them all when it loaded).
func trustedCAs(pemBytes []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
