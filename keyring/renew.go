package keyring

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
)

// Renew replaces the cluster CA with a new one constrained to nc (see NameConstraints): a
// cluster made before issue 16 has an unconstrained CA, which users were told to trust and
// which could sign a certificate for any name. From its return, every certificate is issued
// by the new CA; the CAs it replaces stay trusted (CertPool) and served in ca.pem after it,
// so peers and clients that know only the old CA keep working during the transition, until
// EndTransition. The old CA's private key is deleted: it can no longer sign anything.
//
// ca.pem is written first (the new CA first, then the old ones), then ca.key: a crash between
// the two leaves the old key with a ca.pem that holds its certificate, which Load accepts
// (the old CA still signs; run Renew again). Safe for concurrent use with every other method.
func (k *Keyring) Renew(nc NameConstraints) error {
	k.renewMu.Lock()
	defer k.renewMu.Unlock()
	old := k.auth()
	a, keyDER, err := k.newCA(&nc)
	if err != nil {
		return fmt.Errorf("renew the cluster CA: %w", err)
	}
	a.trusted = append(a.trusted, old.trusted...)
	for _, c := range old.trusted {
		a.pem = append(a.pem, encodePEM(pemCertType, c.Raw)...)
	}
	if err := writeFileAtomic(filepath.Join(k.dir, caCertFile), a.pem, 0o644); err != nil {
		return fmt.Errorf("renew the cluster CA: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(k.dir, caKeyFile), encodePEM("PRIVATE KEY", keyDER), 0o600); err != nil {
		return fmt.Errorf("renew the cluster CA: %w", err)
	}
	k.authority.Store(a)
	return nil
}

// EndTransition stops trusting the CAs that Renew replaced: ca.pem then holds the signing CA
// alone. Run it once every node and client trusts the new CA. It does nothing when there is
// no transition.
func (k *Keyring) EndTransition() error {
	k.renewMu.Lock()
	defer k.renewMu.Unlock()
	old := k.auth()
	if len(old.trusted) == 1 {
		return nil
	}
	a := &authority{cert: old.cert, key: old.key, trusted: []*x509.Certificate{old.cert}, pem: encodePEM(pemCertType, old.cert.Raw)}
	if err := writeFileAtomic(filepath.Join(k.dir, caCertFile), a.pem, 0o644); err != nil {
		return fmt.Errorf("end the CA transition: %w", err)
	}
	k.authority.Store(a)
	return nil
}

// TrustedFingerprints returns the fingerprints (as Fingerprint gives them) of every CA
// trusted: the signing CA first, then, during a renewal's transition, those it replaced.
func (k *Keyring) TrustedFingerprints() []string {
	var out []string
	for _, c := range k.auth().trusted {
		out = append(out, fingerprint(c))
	}
	return out
}
