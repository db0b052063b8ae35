package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"valise/adminapi"
	"valise/fault"
	"valise/raftfsm"
)

// Join tokens (issue 18): `appliance cluster token` prints one; `appliance join` spends it.
//
//	vjt1-<SHA-256 of the cluster CA certificate, 64 hex digits>-<secret, 32 bytes, base64url>
//
// The fingerprint lets the joining node check the node it contacts before it sends anything;
// the secret proves the operator made the token. Only the SHA-256 of the secret is kept, in
// Raft at prefixJoinTokens+<hex>; join consumes it in the batch that writes the node record,
// conditioned on the token's version, so a token is spent at most once whatever the
// concurrency.
const (
	joinTokenPrefix = "vjt1-"
	// joinSecretSize is the token's secret length in bytes (256 bits).
	joinSecretSize = 32
	// prefixJoinTokens holds one joinTokenRecord per unspent token, by the hex SHA-256 of
	// its secret.
	prefixJoinTokens = "cluster/tokens/"

	// DefaultJoinTokenTTL is how long a join token stays valid unless --ttl says otherwise.
	DefaultJoinTokenTTL = time.Hour
	// MaxJoinTokenTTL bounds --ttl: a join token is for a node about to be installed.
	MaxJoinTokenTTL = 7 * 24 * time.Hour
	// purposeJoin is the purpose of a token that adds a new node.
	purposeJoin = "join"
	// purposeReplace, then a node ID, is the purpose of a token that admits only a new
	// incarnation of that node (join --replace), whose data directory was lost.
	purposeReplace = "replace:"
)

// Errors of join tokens, answered to the joining node with their sentence.
var (
	// ErrBadJoinToken is returned for a token that is not in the vjt1 form.
	ErrBadJoinToken = fault.New(fault.Invalid, "bad_join_token", "the join token is malformed: copy the last line `appliance cluster token` printed, whole")
	// ErrJoinTokenUnknown is returned for a token this cluster does not hold: used already
	// (tokens are single-use), made for another cluster, or never made.
	ErrJoinTokenUnknown = fault.New(fault.Forbidden, "join_token_unknown", "the join token is not valid here: it was used already (a token admits one node), or was made by another cluster; create a new one with `appliance cluster token`")
	// ErrJoinTokenExpired is returned for a token past its expiry; it is deleted.
	ErrJoinTokenExpired = fault.New(fault.Forbidden, "join_token_expired", "the join token has expired; create a new one with `appliance cluster token`")
)

// joinToken is a parsed join token.
type joinToken struct {
	caSum  [sha256.Size]byte // SHA-256 of the cluster CA certificate's DER
	secret []byte            // joinSecretSize bytes
}

// String returns the token as printed.
func (t joinToken) String() string {
	return joinTokenPrefix + hex.EncodeToString(t.caSum[:]) + "-" + base64.RawURLEncoding.EncodeToString(t.secret)
}

// key returns the metadata key of the token's record.
func (t joinToken) key() string {
	sum := sha256.Sum256(t.secret)
	return prefixJoinTokens + hex.EncodeToString(sum[:])
}

// matchesCA reports whether cert is the CA the token names.
func (t joinToken) matchesCA(cert *x509.Certificate) bool {
	sum := sha256.Sum256(cert.Raw)
	return subtle.ConstantTimeCompare(sum[:], t.caSum[:]) == 1
}

// parseJoinToken parses a token as `appliance cluster token` printed it (surrounding space
// is ignored).
func parseJoinToken(s string) (joinToken, error) {
	var t joinToken
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, joinTokenPrefix)
	if !ok {
		return t, ErrBadJoinToken
	}
	// The fingerprint is hex (no '-'); the secret, base64url, may hold '-'.
	fp, secret, ok := strings.Cut(rest, "-")
	if !ok || len(fp) != 2*sha256.Size {
		return t, ErrBadJoinToken
	}
	if _, err := hex.Decode(t.caSum[:], []byte(fp)); err != nil || strings.ToLower(fp) != fp {
		return t, ErrBadJoinToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(b) != joinSecretSize {
		return t, ErrBadJoinToken
	}
	t.secret = b
	return t, nil
}

// joinTokenRecord is what the metadata keeps of an unspent token.
type joinTokenRecord struct {
	Expires   time.Time `json:"expires"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"` // the node whose admin socket made it
	Purpose   string    `json:"purpose"`    // purposeJoin, or purposeReplace and a node ID
}

// ClusterToken implements adminapi.Service: a new join token, recorded by its hash, valid
// req.TTLSeconds (DefaultJoinTokenTTL when 0). The batch also sweeps the expired tokens.
func (s *adminService) ClusterToken(ctx context.Context, req adminapi.ClusterTokenRequest) (adminapi.ClusterToken, error) {
	n := s.n
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds == 0 {
		ttl = DefaultJoinTokenTTL
	}
	if ttl < time.Minute || ttl > MaxJoinTokenTTL {
		return adminapi.ClusterToken{}, adminapi.Errorf(adminapi.CodeInvalidValue, "--ttl %s: want from 1m to %s", ttl, MaxJoinTokenTTL)
	}
	tok := joinToken{caSum: sha256.Sum256(n.keys.CACert().Raw), secret: make([]byte, joinSecretSize)}
	if _, err := rand.Read(tok.secret); err != nil {
		return adminapi.ClusterToken{}, fmt.Errorf("join token: %w", err)
	}
	purpose := purposeJoin
	if req.Replace != "" {
		var old nodeRecord
		err := getJSON(n.store, prefixNodes+req.Replace, &old)
		if errors.Is(err, raftfsm.ErrNotFound) || err == nil && old.state() == nodeRemoved {
			return adminapi.ClusterToken{}, adminapi.Errorf(adminapi.CodeNotFound, "--replace %s: no such member of the cluster", req.Replace)
		}
		if err != nil {
			return adminapi.ClusterToken{}, err
		}
		purpose = purposeReplace + req.Replace
	}
	now := time.Now().UTC()
	rec := joinTokenRecord{Expires: now.Add(ttl), Created: now, CreatedBy: n.cfg.Node.ID, Purpose: purpose}
	b, _ := json.Marshal(rec)
	batch := raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(tok.key())}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(tok.key()), Value: b}},
		Audit: raftfsm.Audit{Time: now, Actor: actorOf(ctx), Action: "cluster.token", Target: rec.Purpose,
			Details: mustJSON(map[string]any{"expires": rec.Expires, "created_by": rec.CreatedBy})},
	}
	expired, err := expiredJoinTokens(n.store, now)
	if err != nil {
		return adminapi.ClusterToken{}, err
	}
	for _, k := range expired {
		batch.Ops = append(batch.Ops, raftfsm.Op{Kind: raftfsm.OpDelete, Key: []byte(k)})
	}
	if _, err := n.store.Propose(ctx, batch); err != nil {
		return adminapi.ClusterToken{}, fmt.Errorf("record the join token: %w", err)
	}
	return adminapi.ClusterToken{
		Token: tok.String(), Expires: rec.Expires, CAFingerprint: n.keys.Fingerprint(), Purpose: rec.Purpose,
	}, nil
}

// expiredJoinTokens returns the keys of the tokens expired at now (at most a batch's worth).
func expiredJoinTokens(store *raftfsm.Store, now time.Time) ([]string, error) {
	var out []string
	errFull := errors.New("full")
	err := store.Scan([]byte(prefixJoinTokens), func(it raftfsm.Item) error {
		var r joinTokenRecord
		if json.Unmarshal(it.Value, &r) != nil || !now.Before(r.Expires) {
			out = append(out, string(it.Key))
		}
		if len(out) >= raftfsm.MaxOps/2 {
			return errFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, fmt.Errorf("list the join tokens: %w", err)
	}
	return out, nil
}

// mustJSON encodes v, which cannot fail (maps of strings and times).
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
