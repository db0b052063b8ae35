package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"valise/internal/clusternet"
	"valise/keyring"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// revocationStore returns the leader of a one-node cluster and a revocation list reading it.
func revocationStore(t *testing.T) (*raftfsm.Store, *revocationList) {
	t.Helper()
	c := rafttest.NewCluster(t, 1)
	store := c.Store(c.Leader(t))
	l := newRevocationList(rafttest.TestLogger(t, slog.LevelWarn))
	l.setStore(store)
	return store, l
}

func revokeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rafttest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// fakeCert is a certificate as check sees it: a serial, a node URI (none when id is ""),
// and keyring's backdated NotBefore for a certificate issued at issued.
func fakeCert(serial int64, id string, issued time.Time) *x509.Certificate {
	c := &x509.Certificate{SerialNumber: big.NewInt(serial), NotBefore: issued.Add(-time.Hour)}
	if id != "" {
		c.URIs = []*url.URL{clusternet.NodeURI(id)}
	}
	return c
}

// TestRevocationCheck (issue 18): what the list refuses — a revoked serial, whatever the
// certificate; every certificate of a revoked node issued before the date, never one issued
// at or after it (the replaced node's new one); nothing before the metadata is open.
func TestRevocationCheck(t *testing.T) {
	store, l := revocationStore(t)
	ctx := revokeCtx(t)
	replaced := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if err := revokeNode(ctx, store, "node-old", replaced, "replaced"); err != nil {
		t.Fatal(err)
	}
	if err := revokeSerial(ctx, store, big.NewInt(0xabc), "key leaked"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cert    *x509.Certificate
		revoked bool
	}{
		{"revoked node, issued long before", fakeCert(1, "node-old", replaced.Add(-30*24*time.Hour)), true},
		{"revoked node, issued a second before", fakeCert(2, "node-old", replaced.Add(-time.Second)), true},
		{"revoked node, new certificate at the date", fakeCert(3, "node-old", replaced), false},
		{"revoked node, restarted later", fakeCert(4, "node-old", replaced.Add(time.Hour)), false},
		{"another node", fakeCert(5, "node-other", replaced.Add(-time.Hour)), false},
		{"revoked serial", fakeCert(0xabc, "node-other", replaced.Add(time.Hour)), true},
		{"revoked serial, not a node certificate", fakeCert(0xabc, "", replaced), true},
		{"unrevoked admin certificate", fakeCert(0xabd, "", replaced), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.check(tc.cert)
			if tc.revoked != errors.Is(err, ErrCertRevoked) || !tc.revoked && err != nil {
				t.Fatalf("check = %v, want revoked %v", err, tc.revoked)
			}
		})
	}

	t.Run("revocation only grows", func(t *testing.T) {
		if err := revokeNode(ctx, store, "node-old", replaced.Add(-time.Hour), "earlier"); err != nil {
			t.Fatal(err)
		}
		if err := l.check(fakeCert(2, "node-old", replaced.Add(-time.Second))); !errors.Is(err, ErrCertRevoked) {
			t.Fatalf("an earlier date undid a revocation: %v", err)
		}
		if err := revokeNode(ctx, store, "node-old", replaced.Add(time.Hour), "replaced again"); err != nil {
			t.Fatal(err)
		}
		if err := l.check(fakeCert(4, "node-old", replaced.Add(time.Minute))); !errors.Is(err, ErrCertRevoked) {
			t.Fatalf("a later date is not in force: %v", err)
		}
		if err := revokeSerial(ctx, store, big.NewInt(0xabc), "twice"); err != nil {
			t.Fatalf("revoking a serial twice: %v", err)
		}
	})

	t.Run("not loaded yet", func(t *testing.T) {
		fresh := newRevocationList(rafttest.TestLogger(t, slog.LevelWarn))
		if err := fresh.check(fakeCert(9, "node-new", time.Now())); err == nil {
			t.Fatal("a list not loaded yet accepted a certificate")
		}
	})

	t.Run("undecodable node record fails closed", func(t *testing.T) {
		if _, err := store.Propose(ctx, raftfsm.Batch{
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixRevokedNodes + "node-broken"), Value: []byte("{")}},
			Audit: raftfsm.Audit{Time: time.Now(), Actor: "test", Action: "test.put"},
		}); err != nil {
			t.Fatal(err)
		}
		if err := l.check(fakeCert(10, "node-broken", time.Now().Add(time.Hour))); !errors.Is(err, ErrCertRevoked) {
			t.Fatalf("a node with a broken revocation record was accepted: %v", err)
		}
	})
}

// TestRevokedNodeCannotConnect (issue 18, attack: a replaced node's old key, or a leaked one,
// reaches the cluster port). On real mutual TLS with certificates from the cluster CA, each
// node checking the list in its Raft state: a node revoked by date (join --replace) or by
// serial can neither connect to a node (the acceptor refuses) nor be connected to (the dialer
// refuses); the others still connect.
func TestRevokedNodeCannotConnect(t *testing.T) {
	store, l := revocationStore(t)
	ctx := revokeCtx(t)
	keys, err := keyring.Create(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	type peer struct {
		mux  *clusternet.Mux
		cert tls.Certificate
	}
	start := func(id, addr string) peer {
		cert, err := keys.IssueNodeCert(id, nil, []net.IP{net.ParseIP("127.0.0.1")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		cfg := clusternet.DefaultConfig()
		cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, cert, keys.CertPool(), addr
		cfg.HandshakeTimeout = 5 * time.Second
		cfg.Revoked = l.check
		m, err := clusternet.Listen(cfg, rafttest.TestLogger(t, slog.LevelError))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ln, err := m.Listener(clusternet.ProtoCall)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { // open until the dialer closes it (or Recheck does)
					_, _ = io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}()
		return peer{m, cert}
	}
	server := start("node-s", "127.0.0.2:0")
	byDate := start("node-d", "127.0.0.3:0")
	bySerial := start("node-k", "127.0.0.4:0")
	dial := func(from, to peer) error {
		c, err := from.mux.Dial(ctx, clusternet.ProtoCall, to.mux.Addr().String(), to.mux.NodeID())
		if err == nil {
			c.Close()
		}
		return err
	}
	requireConnects := func(when string, pairs ...[2]peer) {
		t.Helper()
		for _, p := range pairs {
			if err := dial(p[0], p[1]); err != nil {
				t.Fatalf("%s: %s → %s: %v", when, p[0].mux.NodeID(), p[1].mux.NodeID(), err)
			}
		}
	}
	requireRefused := func(when string, revoked peer) {
		t.Helper()
		if err := dial(revoked, server); err == nil {
			t.Fatalf("%s: %s connected to node-s (server side must refuse)", when, revoked.mux.NodeID())
		}
		if err := dial(server, revoked); !errors.Is(err, clusternet.ErrRevoked) {
			t.Fatalf("%s: node-s → %s: %v, want ErrRevoked (client side must refuse)", when, revoked.mux.NodeID(), err)
		}
	}
	requireConnects("before any revocation", [2]peer{byDate, server}, [2]peer{server, byDate}, [2]peer{bySerial, server}, [2]peer{server, bySerial})
	// A connection made before the revocation, as Raft's pooled ones are.
	live, err := byDate.mux.Dial(ctx, clusternet.ProtoCall, server.mux.Addr().String(), "node-s")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if changed, err := l.changed(); err != nil || !changed {
		t.Fatalf("first changed() = %v, %v; want true", changed, err)
	}

	// join --replace: every certificate of node-d issued up to now (X.509 keeps seconds).
	if err := revokeNode(ctx, store, "node-d", keyring.IssuedAt(byDate.cert.Leaf).Add(time.Second), "replaced"); err != nil {
		t.Fatal(err)
	}
	requireRefused("node-d revoked by date", byDate)
	if changed, err := l.changed(); err != nil || !changed {
		t.Fatalf("changed() after a revocation = %v, %v; want true", changed, err)
	}
	if changed, _ := l.changed(); changed {
		t.Fatal("changed() twice for one revocation")
	}
	if n := server.mux.Recheck(); n != 1 {
		t.Fatalf("Recheck closed %d connections, want node-d's one", n)
	}
	_ = live.SetReadDeadline(time.Now().Add(rafttest.WaitTimeout))
	if _, err := live.Read(make([]byte, 1)); err == nil {
		t.Fatal("node-d's connection from before its revocation still carries data")
	}
	requireConnects("node-d revoked by date", [2]peer{bySerial, server}, [2]peer{server, bySerial})

	if err := revokeSerial(ctx, store, bySerial.cert.Leaf.SerialNumber, "key leaked"); err != nil {
		t.Fatal(err)
	}
	requireRefused("node-k's certificate revoked", bySerial)
}

// TestRevocationRecords: the records' decoding, by table.
func TestRevocationRecords(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		serial  bool // a serial record, else a node record
		key     string
		value   string
		wantErr bool
	}{
		{"serial", true, "abc", `{"serial":"abc","reason":"leaked","at":"2026-05-01T12:00:00Z"}`, false},
		{"serial upper case", true, "ABC", `{"serial":"ABC"}`, true},
		{"serial leading zero", true, "0abc", `{"serial":"0abc"}`, true},
		{"serial zero", true, "0", `{"serial":"0"}`, true},
		{"serial not hex", true, "xyz", `{"serial":"xyz"}`, true},
		{"serial names another", true, "abc", `{"serial":"abd"}`, true},
		{"serial bad JSON", true, "abc", `{"serial":`, true},
		{"node", false, "node-1", `{"before":"2026-05-01T12:00:00Z","reason":"replaced"}`, false},
		{"node without date", false, "node-1", `{"reason":"replaced"}`, true},
		{"node bad ID", false, "node/1", `{"before":"2026-05-01T12:00:00Z"}`, true},
		{"node bad date", false, "node-1", `{"before":"soon"}`, true},
		{"node future field ignored", false, "node-1", `{"before":"2026-05-01T12:00:00Z","by":"admin"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.serial {
				var r revokedSerial
				r, err = decodeRevokedSerial(tc.key, []byte(tc.value))
				if err == nil && (r.Serial != tc.key || !r.At.Equal(at) && r.At != (time.Time{})) {
					t.Fatalf("decoded %+v", r)
				}
			} else {
				var r revokedNode
				r, err = decodeRevokedNode(tc.key, []byte(tc.value))
				if err == nil && !r.Before.Equal(at) {
					t.Fatalf("decoded %+v", r)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("decode = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// FuzzRevocationRecords: the records come from the replicated state, which a bug or a
// restored backup may have filled with anything; decoding never panics, and what decodes
// encodes back to the same record.
func FuzzRevocationRecords(f *testing.F) {
	f.Add("abc", []byte(`{"serial":"abc","reason":"leaked","at":"2026-05-01T12:00:00Z"}`))
	f.Add("node-1", []byte(`{"before":"2026-05-01T12:00:00Z"}`))
	f.Add("", []byte(`{}`))
	f.Add("0", []byte(`null`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if r, err := decodeRevokedSerial(key, value); err == nil {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeRevokedSerial(key, b)
			if err != nil || again.Serial != r.Serial || again.Reason != r.Reason || !again.At.Equal(r.At) {
				t.Fatalf("serial record %+v re-decoded as %+v, %v", r, again, err)
			}
			n, _ := new(big.Int).SetString(key, 16)
			if serialKey(n) != prefixRevokedSerials+key {
				t.Fatalf("serial %q has key %q", key, serialKey(n))
			}
		}
		if r, err := decodeRevokedNode(key, value); err == nil {
			if r.Before.IsZero() {
				t.Fatal("a node record without a date decoded")
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			again, err := decodeRevokedNode(key, b)
			if err != nil || !again.Before.Equal(r.Before) || again.Reason != r.Reason || !again.At.Equal(r.At) {
				t.Fatalf("node record %+v re-decoded as %+v, %v", r, again, err)
			}
		}
	})
}
