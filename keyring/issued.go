package keyring

import (
	"crypto/x509"
	"time"
)

// IssuedAt returns when a certificate of this package was issued: its NotBefore, which every
// issue backdates by an hour so that a peer whose clock lags accepts a fresh certificate,
// plus that hour. X.509 keeps whole seconds, so the result does too. Revocation by date
// (every certificate of a node issued before a time) compares with it.
func IssuedAt(cert *x509.Certificate) time.Time { return cert.NotBefore.Add(clockSkew) }
