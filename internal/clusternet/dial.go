package clusternet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Dial connects to the cluster port at addr for protocol proto without a Mux: for a node that
// does not serve a cluster port yet (a joining node fetching the cluster's keys). cert is its
// node certificate from the cluster CA, ca the cluster CA; the peer must present a certificate
// from ca, naming wantPeerID when it is not empty. Dial returns after the peer acknowledged
// the protocol.
func Dial(ctx context.Context, cert tls.Certificate, ca *x509.CertPool, proto byte, addr, wantPeerID string) (*Conn, error) {
	if !knownProto(proto) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProto, proto)
	}
	return dial(ctx, &net.Dialer{}, cert, ca, proto, addr, wantPeerID)
}

// dial is Dial through d, for proto already checked.
func dial(ctx context.Context, d *net.Dialer, cert tls.Certificate, ca *x509.CertPool, proto byte, addr, wantPeerID string) (*Conn, error) {
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial cluster port %s: %w", addr, err)
	}
	var peer string
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // no host name check: verified below by node ID against the cluster CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifyPeer(ca, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, wantPeerID)
			peer = id
			return err
		},
	}
	tc := tls.Client(raw, cfg)
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = clientHandshake(ctx, tc, proto)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		tc.Close()
		cerr := ctx.Err()
		if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded // the conn deadline fired before ctx's timer
		}
		if cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %v", cerr, err)
		}
		return nil, fmt.Errorf("cluster handshake with %s: %w", addr, err)
	}
	_ = tc.SetDeadline(time.Time{})
	return &Conn{Conn: tc, peer: peer, proto: proto}, nil
}

func clientHandshake(ctx context.Context, tc *tls.Conn, proto byte) error {
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if _, err := tc.Write([]byte{proto}); err != nil {
		return fmt.Errorf("send protocol byte: %w", err)
	}
	var ack [1]byte
	if _, err := tc.Read(ack[:]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if ack[0] != ackOK {
		return fmt.Errorf("%w: bad acknowledgement %#x", ErrRefused, ack[0])
	}
	return nil
}
