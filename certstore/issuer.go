package certstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/certmagic"
)

// IssuerKey is the Issuer's certmagic key: certificates are stored under
// "certificates/valise-cluster-ca/<name>/". It never changes, or every node would obtain new
// certificates and orphan the stored ones (docs/dependencies.md, trap 6).
const IssuerKey = "valise-cluster-ca"

// CA signs HTTPS server certificate requests; *keyring.Keyring implements it.
type CA interface {
	// SignServerCSR returns the PEM chain (leaf, then CA) of a server certificate for the
	// request's DNS names and IP addresses, valid validity (0: the CA's default). It copies
	// nothing else from the request. Safe for concurrent use.
	SignServerCSR(csr *x509.CertificateRequest, validity time.Duration) ([]byte, error)
}

// Issuer is certmagic's issuer backed by the cluster CA: it signs locally, with no network.
type Issuer struct {
	ca       CA
	validity time.Duration
}

var _ certmagic.Issuer = (*Issuer)(nil)

// NewIssuer returns an issuer signing with ca for validity (0: the CA's default, 397 days;
// certmagic renews when a third of it is left).
func NewIssuer(ca CA, validity time.Duration) (*Issuer, error) {
	if ca == nil {
		return nil, errors.New("certstore: issuer: no CA")
	}
	if validity < 0 {
		return nil, fmt.Errorf("certstore: issuer: negative validity %v", validity)
	}
	return &Issuer{ca: ca, validity: validity}, nil
}

// Issue signs csr with the cluster CA.
func (i *Issuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	chain, err := i.ca.SignServerCSR(csr, i.validity)
	if err != nil {
		return nil, fmt.Errorf("issue from the cluster CA: %w", err)
	}
	return &certmagic.IssuedCertificate{Certificate: chain}, nil
}

// IssuerKey returns IssuerKey, always.
func (i *Issuer) IssuerKey() string { return IssuerKey }
