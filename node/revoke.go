package node

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"valise/internal/clusternet"
	"valise/internal/logkey"
	"valise/keyring"
	"valise/raftfsm"
)

// The certificate revocation list (issue 18): one list in the replicated metadata for every
// certificate the cluster CA issues to a node or an administrator, checked on every handshake
// of the cluster port (clusternet.Config.Revoked), on both sides. Two kinds of record:
//
//	cluster/revoked/serials/<serial>  one certificate, by its serial number in lower-case hex
//	                                  without leading zeros (big.Int.Text(16)): revokedSerial
//	cluster/revoked/nodes/<node ID>   every certificate naming the node issued before a time
//	                                  (keyring.IssuedAt): revokedNode; join --replace writes it
//	                                  for the node it replaces, whose old key may be anywhere
//
// Records are only added (or, for a node, moved later): nothing is ever un-revoked, since a
// certificate that leaked stays leaked; a node is let back in with a new certificate.
const (
	prefixRevoked        = "cluster/revoked/"
	prefixRevokedSerials = prefixRevoked + "serials/"
	prefixRevokedNodes   = prefixRevoked + "nodes/"
)

// ErrCertRevoked is returned (wrapped) by revocationList.check for a certificate on the list.
var ErrCertRevoked = errors.New("certificate revoked")

// revokedSerial revokes one certificate.
type revokedSerial struct {
	Serial string    `json:"serial"` // as in the key
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"` // when it was revoked
}

// revokedNode revokes every certificate of a node issued before Before.
type revokedNode struct {
	// Before: a certificate naming the node whose keyring.IssuedAt is earlier is refused.
	// Whole seconds (X.509 keeps no more): one issued in Before's second is accepted.
	Before time.Time `json:"before"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"` // when it was revoked
}

// serialKey returns the key revoking serial.
func serialKey(serial *big.Int) string { return prefixRevokedSerials + serial.Text(16) }

// decodeRevokedSerial decodes the record at cluster/revoked/serials/<hexSerial>. It refuses
// a key that is not a positive serial in canonical hex and a record naming another serial.
// The key alone revokes: a caller that cannot decode the record still refuses the serial.
func decodeRevokedSerial(hexSerial string, b []byte) (revokedSerial, error) {
	n, ok := new(big.Int).SetString(hexSerial, 16)
	if !ok || n.Sign() <= 0 || n.Text(16) != hexSerial {
		return revokedSerial{}, fmt.Errorf("revoked serial %q: not a positive serial in lower-case hex", hexSerial)
	}
	var r revokedSerial
	if err := json.Unmarshal(b, &r); err != nil {
		return revokedSerial{}, fmt.Errorf("revoked serial %s: %w", hexSerial, err)
	}
	if r.Serial != hexSerial {
		return revokedSerial{}, fmt.Errorf("revoked serial %s: the record names %q", hexSerial, r.Serial)
	}
	return r, nil
}

// decodeRevokedNode decodes the record at cluster/revoked/nodes/<nodeID>. It refuses an
// invalid node ID and a record without a date.
func decodeRevokedNode(nodeID string, b []byte) (revokedNode, error) {
	if err := clusternet.ValidNodeID(nodeID); err != nil {
		return revokedNode{}, fmt.Errorf("revoked node: %w", err)
	}
	var r revokedNode
	if err := json.Unmarshal(b, &r); err != nil {
		return revokedNode{}, fmt.Errorf("revoked node %s: %w", nodeID, err)
	}
	if r.Before.IsZero() {
		return revokedNode{}, fmt.Errorf("revoked node %s: no date before which its certificates are revoked", nodeID)
	}
	return r, nil
}

// revokeNode revokes every certificate naming nodeID issued before before (keyring.IssuedAt,
// whole seconds): join --replace calls it for the node it replaces. Pass the time just before
// the node's new certificate is issued, by the clock of the node issuing it, or better the new
// certificate's keyring.IssuedAt: a later date would revoke the new certificate too. An
// existing record with a later date is kept (revocation only grows); an earlier one is moved
// to before. It proposes through Raft (forwarded from a follower) and journals "cert.revoke".
func revokeNode(ctx context.Context, store *raftfsm.Store, nodeID string, before time.Time, reason string) error {
	if err := clusternet.ValidNodeID(nodeID); err != nil {
		return fmt.Errorf("revoke node certificates: %w", err)
	}
	if before.IsZero() {
		return fmt.Errorf("revoke the certificates of %s: no date", nodeID)
	}
	key := prefixRevokedNodes + nodeID
	rec := revokedNode{Before: before.UTC().Truncate(time.Second), Reason: reason}
	for {
		cond := raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: []byte(key)}
		it, err := store.Get([]byte(key))
		switch {
		case err == nil:
			old, derr := decodeRevokedNode(nodeID, it.Value)
			if derr == nil && !old.Before.Before(rec.Before) {
				return nil // already revoked up to that date or later
			}
			cond = raftfsm.Cond{Kind: raftfsm.CondVersion, Key: []byte(key), Version: it.Version}
		case !errors.Is(err, raftfsm.ErrNotFound):
			return fmt.Errorf("revoke the certificates of %s: %w", nodeID, err)
		}
		rec.At = time.Now().UTC()
		err = proposeRevocation(ctx, store, cond, key, rec, nodeID, map[string]any{
			"node_id": nodeID, "before": rec.Before, "reason": reason,
		})
		if !errors.Is(err, raftfsm.ErrConflict) {
			return err
		}
		// Changed meanwhile (another revocation of the node): read it again.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("revoke the certificates of %s: %w", nodeID, err)
		}
	}
}

// revokeSerial revokes one certificate by its serial number (a node's or an administrator's).
// Revoking a serial twice is not an error. It journals "cert.revoke".
func revokeSerial(ctx context.Context, store *raftfsm.Store, serial *big.Int, reason string) error {
	if serial == nil || serial.Sign() <= 0 {
		return errors.New("revoke a certificate: the serial must be positive")
	}
	key := serialKey(serial)
	rec := revokedSerial{Serial: serial.Text(16), Reason: reason, At: time.Now().UTC()}
	err := proposeRevocation(ctx, store, raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: []byte(key)}, key, rec, rec.Serial, map[string]any{
		"serial": rec.Serial, "reason": reason,
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return nil // revoked already
	}
	return err
}

// proposeRevocation writes one revocation record under cond and journals it. The batch fences
// itself (its condition is on the key it writes), so Propose retries it across a leader change.
func proposeRevocation(ctx context.Context, store *raftfsm.Store, cond raftfsm.Cond, key string, rec any, target string, details map[string]any) error {
	value, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	det, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("encode the journal details of %s: %w", key, err)
	}
	_, err = store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{cond},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: value}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: actorOf(ctx), Action: "cert.revoke", Target: target, Details: det},
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", strings.TrimPrefix(key, prefixRevoked), err)
	}
	return nil
}

// revocationList answers clusternet.Config.Revoked from the local Raft state: a copy of the
// list in memory, read again whenever the state has applied anything since (one atomic load
// per handshake when nothing changed, one scan of the list's keys otherwise). Until the
// metadata is open (setStore) it refuses every certificate: the cluster port listens before
// the store opens, and a node that does not know the list yet must not trust anyone.
type revocationList struct {
	logger *slog.Logger
	store  atomic.Pointer[raftfsm.Store] // nil until setStore

	mu        sync.Mutex     // guards cached and published
	cached    *revocationSet // nil until first loaded
	published *revocationSet // the list as changed last reported it; nil before
}

// revocationSet is the list as of one applied index.
type revocationSet struct {
	applied uint64
	serials map[string]bool      // revoked serials, lower-case hex
	nodes   map[string]time.Time // node ID → certificates issued before it are revoked
}

func newRevocationList(logger *slog.Logger) *revocationList {
	return &revocationList{logger: logger}
}

// setStore starts answering from store's local state.
func (l *revocationList) setStore(store *raftfsm.Store) { l.store.Store(store) }

// check returns an error wrapping ErrCertRevoked when cert is on the list, and an error when
// the list cannot be read; nil otherwise. It is clusternet.Config.Revoked: safe for concurrent
// use, no I/O beyond a local read.
func (l *revocationList) check(cert *x509.Certificate) error {
	set, err := l.load()
	if err != nil {
		return err
	}
	if set.serials[cert.SerialNumber.Text(16)] {
		return fmt.Errorf("%w: serial %s is on the revocation list", ErrCertRevoked, cert.SerialNumber.Text(16))
	}
	id, err := clusternet.NodeIDFromCert(cert)
	if err != nil {
		return nil // names no node: not a node certificate, and the serial is not revoked
	}
	if before, ok := set.nodes[id]; ok && keyring.IssuedAt(cert).Before(before) {
		return fmt.Errorf("%w: node %s's certificates issued before %s are revoked (this one: %s)", ErrCertRevoked, id, before.Format(time.RFC3339), keyring.IssuedAt(cert).UTC().Format(time.RFC3339))
	}
	return nil
}

// load returns the list as of the local state's applied index.
func (l *revocationList) load() (*revocationSet, error) {
	store := l.store.Load()
	if store == nil {
		return nil, errors.New("the revocation list is not loaded yet (the node is starting)")
	}
	applied := store.AppliedIndex()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cached != nil && l.cached.applied == applied {
		return l.cached, nil
	}
	set := &revocationSet{applied: applied, serials: map[string]bool{}, nodes: map[string]time.Time{}}
	err := store.Scan([]byte(prefixRevoked), func(it raftfsm.Item) error {
		key := string(it.Key)
		switch {
		case strings.HasPrefix(key, prefixRevokedSerials):
			serial := strings.TrimPrefix(key, prefixRevokedSerials)
			if _, err := decodeRevokedSerial(serial, it.Value); err != nil {
				l.logger.Error("a revocation record does not decode: the serial in its key stays revoked", "key", key, logkey.Err, err)
			}
			set.serials[serial] = true
		case strings.HasPrefix(key, prefixRevokedNodes):
			id := strings.TrimPrefix(key, prefixRevokedNodes)
			rec, err := decodeRevokedNode(id, it.Value)
			if err != nil {
				// Fail closed: every certificate of the node, until the record is fixed.
				l.logger.Error("a revocation record does not decode: every certificate of the node is refused", "key", key, logkey.Err, err)
				rec.Before = time.Unix(1<<40, 0)
			}
			set.nodes[id] = rec.Before
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the revocation list: %w", err)
	}
	l.cached = set
	return set, nil
}

// changed reports whether the list differs from the one it last reported (true the first
// time): watchRevocations then has the cluster port recheck its open connections.
func (l *revocationList) changed() (bool, error) {
	set, err := l.load()
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.published != nil && maps.Equal(l.published.serials, set.serials) &&
		maps.EqualFunc(l.published.nodes, set.nodes, time.Time.Equal) {
		return false, nil
	}
	l.published = set
	return true, nil
}

// revocationRecheck is how often the node looks for a change of the revocation list, to
// close the connections of peers revoked meanwhile (a handshake checks the list at once).
const revocationRecheck = time.Second

// watchRevocations closes the open cluster connections of peers whose certificate was
// revoked since they connected (clusternet.Mux.Recheck): the handshake check covers a
// connection only when it opens, and Raft's pooled connections live long.
func (n *instance) watchRevocations() {
	n.every(revocationRecheck, func() {
		changed, err := n.revoked.changed()
		if err != nil {
			n.logger.Warn("read the revocation list", logkey.Err, err)
			return
		}
		if changed {
			if closed := n.mux.Recheck(); closed > 0 {
				n.logger.Warn("closed the cluster connections of revoked certificates", logkey.Count, closed)
			}
			n.adminConns.recheck(n) // adminlisten.go: the admin port's too
		}
	})
}
