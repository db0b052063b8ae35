package keyring

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Certificate lifetimes. Renewal is later work: a node re-issues its own certificate at start
// when less than a third of its life is left, and certmagic renews HTTPS certificates itself.
const (
	// CAValidity is the cluster CA's lifetime.
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeCertValidity is the default lifetime of a node certificate.
	NodeCertValidity = 365 * 24 * time.Hour
	// ServerCertValidity is the lifetime of an HTTPS certificate; under the 398 days browsers
	// accept for public CAs, so the same certificates pass if a browser applies that rule.
	ServerCertValidity = 397 * 24 * time.Hour

	// NodeURIScheme is the scheme of the URI SAN that names a node in its certificate:
	// "valise-node://<node ID>". Cluster peers are authenticated by it, not by address. The
	// node ID is the URI's host, not an opaque part: Go's verifier refuses a URI without a
	// host under a CA with name constraints (issue 16 item 8). NodeIDFromCert still reads
	// the older "valise-node:<node ID>".
	NodeURIScheme = "valise-node"

	// clockSkew backdates NotBefore so a peer whose clock is a little behind accepts a fresh
	// certificate.
	clockSkew   = time.Hour
	maxNodeID   = 128
	caCNPrefix  = "Valise cluster CA "
	pemCertType = "CERTIFICATE"
)

// authority is the CA the keyring signs with and the CAs it trusts. It never changes once
// stored: Renew stores a new one.
type authority struct {
	cert *x509.Certificate // the signing CA, never nil
	key  *ecdsa.PrivateKey // its private key, never nil
	// trusted are every CA in ca.pem, the signing one first, then those it replaced (kept
	// trusted during a renewal's transition).
	trusted []*x509.Certificate
	pem     []byte // ca.pem's content: trusted, in order
}

// auth returns the current authority; never nil after Create or Load.
func (k *Keyring) auth() *authority { return k.authority.Load() }

// newCA generates a CA key and self-signed certificate, constrained to nc's names when nc is
// not nil, and returns it with the key's PKCS#8 DER and the certificate's PEM for the caller
// to write. k is not changed.
func (k *Keyring) newCA(nc *NameConstraints) (a *authority, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	if nc != nil {
		if err := nc.validate(); err != nil {
			return nil, nil, err
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	// A random suffix tells two clusters' CAs apart in a browser's or system's trust store.
	tag, err := randomBytes(4)
	if err != nil {
		return nil, nil, err
	}
	now := k.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCNPrefix + hex.EncodeToString(tag), Organization: []string{"Valise"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true, // the CA signs leaves only, never another CA
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	if nc != nil {
		nc.apply(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse new CA certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode CA key: %w", err)
	}
	certPEM := encodePEM(pemCertType, der)
	return &authority{cert: cert, key: key, trusted: []*x509.Certificate{cert}, pem: certPEM}, keyDER, nil
}

// loadCA reads ca.key and ca.pem from k.dir and checks that they belong together: ca.pem holds
// the CA of ca.key (first, but for a renewal cut by a crash), and any CA it replaced (ca
// renew), still trusted.
func (k *Keyring) loadCA() error {
	keyPath := filepath.Join(k.dir, caKeyFile)
	if err := checkPrivate(keyPath, false); err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("read CA key %s: %w", keyPath, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		return fmt.Errorf("read CA key %s: %w: no PKCS#8 PEM block", keyPath, ErrBadKeyFile)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("read CA key %s: %w: %v", keyPath, ErrBadKeyFile, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return fmt.Errorf("read CA key %s: %w: not an ECDSA P-256 key", keyPath, ErrBadKeyFile)
	}

	certPath := filepath.Join(k.dir, caCertFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, certPath)
	}
	if err != nil {
		return fmt.Errorf("read CA certificate %s: %w", certPath, err)
	}
	a := &authority{key: key}
	signer := -1
	for rest := certPEM; ; {
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCertType {
			return fmt.Errorf("read CA certificate %s: %w: a %q PEM block", certPath, ErrBadKeyFile, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("read CA certificate %s: %w: %v", certPath, ErrBadKeyFile, err)
		}
		if !cert.IsCA {
			return fmt.Errorf("read CA certificate %s: %w: not a CA certificate", certPath, ErrBadKeyFile)
		}
		if signer < 0 && key.PublicKey.Equal(cert.PublicKey) {
			signer = len(a.trusted)
		}
		a.trusted = append(a.trusted, cert)
		a.pem = append(a.pem, encodePEM(pemCertType, cert.Raw)...)
	}
	if len(a.trusted) == 0 {
		return fmt.Errorf("read CA certificate %s: %w: no certificate PEM block", certPath, ErrBadKeyFile)
	}
	if signer < 0 {
		return fmt.Errorf("read CA certificate %s: %w: no certificate in it matches %s", certPath, ErrBadKeyFile, caKeyFile)
	}
	// The signer is first once Renew finished; during its two writes it may not be (see
	// Renew), and a crash there must leave keys that load.
	a.cert = a.trusted[signer]
	k.authority.Store(a)
	return nil
}

// CAPEM returns the cluster CA certificates in PEM form, as served at /ca.pem: the signing CA,
// then, after a renewal, the CA it replaced, still trusted during the transition. The caller
// may keep it; it gets its own copy.
func (k *Keyring) CAPEM() []byte { return bytes.Clone(k.auth().pem) }

// CACert returns the cluster CA certificate that signs new certificates. The caller must not
// modify it.
func (k *Keyring) CACert() *x509.Certificate { return k.auth().cert }

// CertPool returns a new pool holding the cluster CA (and, during a renewal's transition, the
// CA it replaced), for tls.Config's RootCAs and ClientCAs.
func (k *Keyring) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range k.auth().trusted {
		p.AddCert(c)
	}
	return p
}

// Fingerprint returns the CA certificate's fingerprint as OpenSSH prints its own: "SHA256:"
// then the SHA-256 of the certificate's DER encoding in standard base64 without padding
// (43 characters). This is what `appliance init` prints as ca-fingerprint and what the
// console shows. FingerprintHex gives the same digest in the form browsers display.
func (k *Keyring) Fingerprint() string { return fingerprint(k.auth().cert) }

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// FingerprintHex returns the SHA-256 of the CA certificate's DER encoding as upper-case hex
// bytes separated by colons, the form browsers' certificate viewers show.
func (k *Keyring) FingerprintHex() string {
	sum := sha256.Sum256(k.auth().cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// NodeURI returns the URI SAN that names nodeID in its certificate: "valise-node://<nodeID>".
func NodeURI(nodeID string) string { return NodeURIScheme + "://" + nodeID }

// NodeIDFromCert returns the node ID a node certificate names in its URI SAN. The caller must
// first have verified the certificate's chain against the cluster CA (tls.Config does, with
// ClientAuth RequireAndVerifyClientCert and RootCAs/ClientCAs from CertPool). It fails if the
// certificate names no node or more than one.
func NodeIDFromCert(cert *x509.Certificate) (string, error) {
	id := ""
	for _, u := range cert.URIs {
		if u.Scheme != NodeURIScheme {
			continue
		}
		if id != "" {
			return "", fmt.Errorf("%w: certificate names more than one node", ErrBadNodeID)
		}
		id = u.Host
		if u.Opaque != "" {
			id = u.Opaque // a certificate from before issue 16
		}
		if err := checkNodeID(id); err != nil {
			return "", err
		}
	}
	if id == "" {
		return "", fmt.Errorf("%w: certificate names no node", ErrBadNodeID)
	}
	return id, nil
}

func checkNodeID(id string) error {
	if id == "" || len(id) > maxNodeID {
		return fmt.Errorf("%w: %q (want 1 to %d characters)", ErrBadNodeID, id, maxNodeID)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("%w: %q (letters, digits, '-', '_' and '.' only)", ErrBadNodeID, id)
		}
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		return fmt.Errorf("%w: %q (no empty part between dots: the ID is a URI host)", ErrBadNodeID, id)
	}
	return nil
}

// IssueNodeCert issues a certificate for the node nodeID, signed by the cluster CA, valid as
// both TLS server and client (mutual TLS between nodes), naming the node in a URI SAN
// "valise-node://<nodeID>" as well as hosts and ips (which may be empty: peers check the node
// ID, not the address). validity 0 means NodeCertValidity. The returned certificate carries
// the chain (leaf, CA), its private key (a fresh ECDSA P-256 key) and its parsed Leaf.
func (k *Keyring) IssueNodeCert(nodeID string, hosts []string, ips []net.IP, validity time.Duration) (tls.Certificate, error) {
	if err := checkNodeID(nodeID); err != nil {
		return tls.Certificate{}, fmt.Errorf("issue node certificate: %w", err)
	}
	if validity <= 0 {
		validity = NodeCertValidity
	}
	hosts, ips = splitHosts(hosts, ips)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeID, Organization: []string{"Valise"}},
		DNSNames:    dedupe(hosts),
		IPAddresses: dedupeIPs(ips),
		URIs:        []*url.URL{{Scheme: NodeURIScheme, Host: nodeID}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	cert, err := k.issue(tmpl, validity)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue node certificate for %s: %w", nodeID, err)
	}
	return cert, nil
}

// IssueServerCert issues an HTTPS server certificate signed by the cluster CA for hosts and
// ips; "localhost", 127.0.0.1 and ::1 are always added so a browser or curl on the node itself
// verifies it. It is valid ServerCertValidity. The returned certificate carries the chain
// (leaf, CA), its private key and its parsed Leaf.
func (k *Keyring) IssueServerCert(hosts []string, ips []net.IP) (tls.Certificate, error) {
	hosts, ips = splitHosts(hosts, ips)
	hosts = dedupe(append(hosts, "localhost"))
	ips = dedupeIPs(append(ips, net.IPv4(127, 0, 0, 1), net.IPv6loopback))
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{"Valise"}},
		DNSNames:    hosts,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert, err := k.issue(tmpl, ServerCertValidity)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return cert, nil
}

// SignServerCSR issues an HTTPS server certificate for a certificate request (certmagic's
// issuer hands one over) and returns the PEM chain, leaf then CA. Only the request's DNS names
// and IP addresses are copied: a request can never obtain a node identity (URI SAN), a client
// usage or a CA. validity 0 means ServerCertValidity.
func (k *Keyring) SignServerCSR(csr *x509.CertificateRequest, validity time.Duration) ([]byte, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign certificate request: %w", err)
	}
	if len(csr.DNSNames) == 0 && len(csr.IPAddresses) == 0 {
		return nil, errors.New("sign certificate request: no DNS name or IP address")
	}
	if validity <= 0 || validity > ServerCertValidity {
		validity = ServerCertValidity
	}
	cn := ""
	if len(csr.DNSNames) > 0 {
		cn = csr.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"Valise"}},
		DNSNames:    dedupe(csr.DNSNames),
		IPAddresses: dedupeIPs(csr.IPAddresses),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	a := k.auth()
	der, err := k.sign(a, tmpl, csr.PublicKey, validity)
	if err != nil {
		return nil, fmt.Errorf("sign certificate request: %w", err)
	}
	return append(encodePEM(pemCertType, der), encodePEM(pemCertType, a.cert.Raw)...), nil
}

// issue generates a leaf key and signs tmpl with it.
func (k *Keyring) issue(tmpl *x509.Certificate, validity time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	a := k.auth()
	der, err := k.sign(a, tmpl, &key.PublicKey, validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse issued certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: [][]byte{der, a.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// sign fills the fields every leaf shares and signs tmpl for pub with a's CA key. It refuses
// (ErrOutsideConstraints) a DNS name or IP address a's name constraints do not permit: such a
// certificate would fail every client's verification anyway.
func (k *Keyring) sign(a *authority, tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) ([]byte, error) {
	if out := outside(a.cert, tmpl.DNSNames, tmpl.IPAddresses); len(out) > 0 {
		return nil, fmt.Errorf("%w: %s (permitted: %s)", ErrOutsideConstraints, strings.Join(out, ", "), strings.Join(permittedNames(a.cert), ", "))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := k.now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return der, nil
}

// newSerial returns a random 127-bit serial number (positive, as RFC 5280 requires).
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// splitHosts returns copies of hosts and ips with the IP literals among hosts moved to ips
// (an IP address belongs in an IP SAN: clients do not match it against DNS names).
func splitHosts(hosts []string, ips []net.IP) ([]string, []net.IP) {
	var hs []string
	is := append([]net.IP(nil), ips...)
	for _, h := range hosts {
		h = strings.Trim(strings.TrimSpace(h), "[]")
		if ip := net.ParseIP(h); ip != nil {
			is = append(is, ip)
			continue
		}
		hs = append(hs, h)
	}
	return hs, is
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

func dedupeIPs(in []net.IP) []net.IP {
	var out []net.IP
	seen := map[string]bool{}
	for _, ip := range in {
		if ip == nil {
			continue
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if seen[string(ip)] {
			continue
		}
		seen[string(ip)] = true
		out = append(out, ip)
	}
	return out
}
