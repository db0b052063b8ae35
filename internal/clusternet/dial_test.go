package clusternet_test

import (
	"errors"
	"io"
	"testing"

	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
)

// TestDialWithoutMux: a joining node, which serves no cluster port yet, reaches a member on
// ProtoJoin with a certificate from the cluster CA; a certificate from another CA, or a member
// that is not the one wanted, is refused.
func TestDialWithoutMux(t *testing.T) {
	ca := clustertest.NewCA(t)
	b := listen(t, ca, "node-b", "127.0.0.1:0")
	ln, err := b.Listener(clusternet.ProtoJoin)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer, _ := clusternet.PeerID(c)
			_, _ = io.WriteString(c, peer)
			c.Close()
		}
	}()
	c, err := clusternet.Dial(ctxT(t), ca.NodeCert(t, "joiner"), ca.Pool(), clusternet.ProtoJoin, b.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "joiner" || c.PeerID() != "node-b" {
		t.Fatalf("member saw %q (%v); dialer saw %q", got, err, c.PeerID())
	}

	for _, tc := range []struct {
		name string
		dial func() error
		want error
	}{
		{"certificate of another CA", func() error {
			other := clustertest.NewCA(t)
			_, err := clusternet.Dial(ctxT(t), other.NodeCert(t, "joiner"), ca.Pool(), clusternet.ProtoJoin, b.Addr().String(), "")
			return err
		}, clusternet.ErrRefused},
		{"another member than wanted", func() error {
			_, err := clusternet.Dial(ctxT(t), ca.NodeCert(t, "joiner"), ca.Pool(), clusternet.ProtoJoin, b.Addr().String(), "node-c")
			return err
		}, clusternet.ErrPeerID},
		{"unknown protocol", func() error {
			_, err := clusternet.Dial(ctxT(t), ca.NodeCert(t, "joiner"), ca.Pool(), 'Z', b.Addr().String(), "")
			return err
		}, clusternet.ErrUnknownProto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.dial(); !errors.Is(err, tc.want) {
				t.Fatalf("Dial = %v, want %v", err, tc.want)
			}
		})
	}
}
