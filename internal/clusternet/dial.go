package clusternet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
)

// Dial connects to the cluster port at addr for protocol proto without a listening Mux: for a
// node that serves no cluster port yet (a joining node fetching the cluster's keys). cert is
// its node certificate from the cluster CA, ca the cluster CA; the peer must present a
// certificate from ca, naming wantPeerID when it is not empty. As Mux.Dial, it returns after
// the peer acknowledged the protocol.
func Dial(ctx context.Context, cert tls.Certificate, ca *x509.CertPool, proto byte, addr, wantPeerID string) (*Conn, error) {
	m := &Mux{cfg: Config{Cert: cert, CA: ca}, conns: map[*Conn]struct{}{}} // a dialer only: nothing listens
	return m.Dial(ctx, proto, addr, wantPeerID)
}
