package keyring

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Admin certificates (issue 20): the cluster CA certifies an administrator's workstation key
// for the admin port. Such a certificate names the administrator in a URI SAN
// "valise-admin://<name>" (the name is the URI's host, as for nodes, so that a CA with name
// constraints verifies it), has the clientAuth usage only, and names no node: the cluster
// port refuses it, and the admin port refuses a node's.
const (
	// AdminURIScheme is the scheme of the URI SAN that names an administrator.
	AdminURIScheme = "valise-admin"
	// AdminCertValidity is an admin certificate's lifetime.
	AdminCertValidity = 365 * 24 * time.Hour
	maxAdminName      = 64
)

// ErrBadAdminName is returned for an administrator's name that cannot be certified.
var ErrBadAdminName = errors.New("invalid admin certificate name")

// CheckAdminName refuses a name an admin certificate cannot carry: 1 to 64 lower-case letters,
// digits, '-', '_' and '.', no empty part between dots.
func CheckAdminName(name string) error {
	if name == "" || len(name) > maxAdminName {
		return fmt.Errorf("%w: %q (want 1 to %d characters)", ErrBadAdminName, name, maxAdminName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: %q (lower-case letters, digits, '-', '_' and '.' only)", ErrBadAdminName, name)
		}
	}
	if err := checkNodeID(name); err != nil { // the same URI-host rules as a node ID
		return fmt.Errorf("%w: %q (no empty part between dots)", ErrBadAdminName, name)
	}
	return nil
}

// AdminNameFromCert returns the administrator an admin certificate names; an error for a
// certificate naming none, several, or a node too. The caller must first have verified its
// chain against the cluster CA.
func AdminNameFromCert(cert *x509.Certificate) (string, error) {
	name := ""
	for _, u := range cert.URIs {
		switch u.Scheme {
		case NodeURIScheme:
			return "", fmt.Errorf("%w: a node's certificate, not an administrator's", ErrBadAdminName)
		case AdminURIScheme:
			if name != "" {
				return "", fmt.Errorf("%w: the certificate names more than one administrator", ErrBadAdminName)
			}
			name = u.Host
		}
	}
	if name == "" {
		return "", fmt.Errorf("%w: the certificate names no administrator", ErrBadAdminName)
	}
	return name, CheckAdminName(name)
}

// SignAdminCSR certifies the public key of csr (its signature checked; nothing else of it is
// used) for the administrator name, with role written in the subject for people reading the
// certificate (the cluster's record of it is what counts). It returns the certificate's PEM
// and the parsed certificate.
func (k *Keyring) SignAdminCSR(name, role string, csr *x509.CertificateRequest) ([]byte, *x509.Certificate, error) {
	if err := CheckAdminName(name); err != nil {
		return nil, nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("sign the admin certificate request: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"Valise"}, OrganizationalUnit: []string{"admin " + role}},
		URIs:        []*url.URL{{Scheme: AdminURIScheme, Host: name}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := k.sign(k.auth(), tmpl, csr.PublicKey, AdminCertValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the admin certificate of %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse the admin certificate: %w", err)
	}
	return encodePEM(pemCertType, der), cert, nil
}
