package keyring

import (
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Bundle is the key material a node needs to serve: what a joining node receives from a
// member over the cluster port (mutual TLS) and writes with Import exactly as Create writes
// it. Every field is secret but CAPEM; never log a Bundle.
type Bundle struct {
	// KEK is the 256-bit key-encryption key (cluster.key).
	KEK []byte `json:"kek"`
	// SigningSeed is the Ed25519 signing key's 32-byte seed (signing.key).
	SigningSeed []byte `json:"signing_seed"`
	// CAKeyPEM is the CA's private key, PKCS#8 in PEM (ca.key).
	CAKeyPEM []byte `json:"ca_key"`
	// CAPEM is ca.pem: the signing CA, then those it replaced during a renewal.
	CAPEM []byte `json:"ca_pem"`
}

// Export returns the key material of k as stored in its key directory, for a joining node.
// It reads the files (the keyring keeps no raw copy of its keys) and checks them as Load does.
func (k *Keyring) Export() (Bundle, error) {
	var b Bundle
	var err error
	if b.KEK, err = readKeyFile(filepath.Join(k.dir, kekFile), kindKEK, kekSize); err != nil {
		return b, fmt.Errorf("export the keys: %w", err)
	}
	if b.SigningSeed, err = readKeyFile(filepath.Join(k.dir, signingFile), kindSigning, ed25519.SeedSize); err != nil {
		return b, fmt.Errorf("export the keys: %w", err)
	}
	if b.CAKeyPEM, err = os.ReadFile(filepath.Join(k.dir, caKeyFile)); err != nil {
		return b, fmt.Errorf("export the keys: %w", err)
	}
	if b.CAPEM, err = os.ReadFile(filepath.Join(k.dir, caCertFile)); err != nil {
		return b, fmt.Errorf("export the keys: %w", err)
	}
	return b, nil
}

// Import writes b into dir (created with mode 0700 if missing) as Create writes new keys, the
// same files with the same modes, then loads them. It refuses with ErrExists if dir already
// holds a key file, and with ErrBadKeyFile for key material of the wrong length or that does
// not load; on any failure it removes the files it wrote.
func Import(dir string, b Bundle) (_ *Keyring, err error) {
	if len(b.KEK) != kekSize {
		return nil, fmt.Errorf("import the keys: %w: key-encryption key is %d bytes, want %d", ErrBadKeyFile, len(b.KEK), kekSize)
	}
	if len(b.SigningSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("import the keys: %w: signing seed is %d bytes, want %d", ErrBadKeyFile, len(b.SigningSeed), ed25519.SeedSize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict key directory %s: %w", dir, err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{kekFile, encodeKeyFile(kindKEK, b.KEK), 0o600},
		{signingFile, encodeKeyFile(kindSigning, b.SigningSeed), 0o600},
		{caKeyFile, b.CAKeyPEM, 0o600},
		{caCertFile, b.CAPEM, 0o644}, // last, as Create: its presence marks a finished write
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("import keys into %s: %w (%s)", dir, ErrExists, f.name)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("check %s: %w", p, err)
		}
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeFileAtomic(p, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("import the keys: %w", err)
		}
		written = append(written, p)
	}
	k, err := Load(dir)
	if err != nil {
		return nil, fmt.Errorf("import the keys: %w", err)
	}
	return k, nil
}

// SignNodeCSR issues a node certificate for nodeID from a certificate request, as
// IssueNodeCert does but for a key the caller keeps (a joining node sends its request before
// it holds any key of the cluster): valid as TLS server and client, naming the node in its URI
// SAN and nothing else (the request's names are ignored). validity 0 means NodeCertValidity.
// It returns the PEM chain, leaf then CA.
func (k *Keyring) SignNodeCSR(nodeID string, csr *x509.CertificateRequest, validity time.Duration) ([]byte, error) {
	if err := checkNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("sign node certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign node certificate request: %w", err)
	}
	if validity <= 0 || validity > NodeCertValidity {
		validity = NodeCertValidity
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeID, Organization: []string{"Valise"}},
		URIs:        []*url.URL{{Scheme: NodeURIScheme, Host: nodeID}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	a := k.auth()
	der, err := k.sign(a, tmpl, csr.PublicKey, validity)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate request for %s: %w", nodeID, err)
	}
	return append(encodePEM(pemCertType, der), encodePEM(pemCertType, a.cert.Raw)...), nil
}
