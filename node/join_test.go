package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"valise/adminapi"
	"valise/internal/poll"
	"valise/keyring"
	"valise/raftfsm"
)

// loopbackPrefix returns "127.A.B." with A, B random, so that the nodes of concurrent test
// binaries never share an address (their ports are fixed: join records them).
func loopbackPrefix(t *testing.T) string {
	t.Helper()
	a, err := rand.Int(rand.Reader, big.NewInt(150))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rand.Int(rand.Reader, big.NewInt(250))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.%d.%d.", 100+a.Int64(), 1+b.Int64())
}

// joinRaft are the Raft timeouts of the join tests: fastRaft's elect a one-node cluster fast,
// but a two-voter cluster on a loaded machine (under -race) loses its leader with them.
var joinRaft = RaftConfig{
	HeartbeatTimeout:   400 * time.Millisecond,
	ElectionTimeout:    400 * time.Millisecond,
	LeaderLeaseTimeout: 200 * time.Millisecond,
	CommitTimeout:      10 * time.Millisecond,
	SnapshotThreshold:  8192,
}

// runNode serves cfg in process until the test ends (or stop), and returns it once its admin
// socket answers status (once start has finished).
func runNode(t *testing.T, cfg Config) (n *instance, stop func()) {
	t.Helper()
	n, err := newInstance(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node %s: Run = %v", cfg.Node.ID, err)
			}
		})
	}
	t.Cleanup(stop)
	c := adminapi.NewClient(cfg.AdminSocketPath())
	t.Cleanup(func() { c.Close() })
	poll.UntilNil(t, "node "+cfg.Node.ID+" serving", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("node %s stopped: %v", cfg.Node.ID, err)
		default:
		}
		_, err := c.Status(ctx)
		return err
	})
	return n, stop
}

// addJoinedToRaft is what the leader's membership reconciler does for a node recorded as
// joining, reduced to one call so that the join tests run before it exists: the lead may
// switch the tests to the reconciler (and delete this) once node/membership.go lands.
func addJoinedToRaft(members []*instance, id, addr string) error {
	return onLeader(members, func(ctx context.Context, l *instance) error {
		return l.store.AddVoter(ctx, id, raft.ServerAddress(addr))
	})
}

// replaceInRaft is what the reconciler does for a replaced node (see addJoinedToRaft): the
// old member, whose log is lost, leaves Raft before the new incarnation is added.
func replaceInRaft(members []*instance, id, addr string) error {
	return onLeader(members, func(ctx context.Context, l *instance) error {
		if err := l.store.RemoveServer(ctx, id); err != nil {
			return err
		}
		return l.store.AddVoter(ctx, id, raft.ServerAddress(addr))
	})
}

// onLeader runs change on the member that leads, retrying while none does or it fails.
func onLeader(members []*instance, change func(ctx context.Context, leader *instance) error) error {
	return poll.Within(time.Minute, func() error {
		for _, m := range members {
			if m.store.Status().State.IsLeader() {
				ctx, cancel := context.WithTimeout(context.Background(), poll.HangGuard)
				defer cancel()
				return change(ctx, m)
			}
		}
		return errors.New("no leader among the members")
	})
}

// TestJoin guards issue 18's join, end to end with real TLS on loopback addresses: a node
// created by Join from a token, started with an empty Raft, is added by the leader and serves
// the same metadata and keys; a token admits one node only, even under a burst; a node that
// serves another CA than the token names, and an expired token, are refused.
func TestJoin(t *testing.T) {
	prefix := loopbackPrefix(t)
	ip1, ip2 := prefix+"1", prefix+"2"
	ctx := context.Background()
	dir1 := filepath.Join(t.TempDir(), "n1")
	if _, err := Init(ctx, InitOptions{
		DataDir: dir1, Disks: 2, AdminEmail: "root@example.org", Site: "a",
		Listen: ip1 + ":8443", ClusterListen: ip1 + ":8444", AdminSocket: filepath.Join(shortDir(t), "a.sock"), Raft: &joinRaft,
	}); err != nil {
		t.Fatal(err)
	}
	cfg1, err := LoadConfig(filepath.Join(dir1, ConfigFileName), dir1)
	if err != nil {
		t.Fatal(err)
	}
	n1, _ := runNode(t, cfg1)
	c1 := adminapi.NewClient(cfg1.AdminSocketPath())
	defer c1.Close()
	replaceToken := func(t *testing.T, replace string) string {
		t.Helper()
		var tk adminapi.ClusterToken
		poll.UntilNil(t, "a join token", func() error { // no leader for a moment: retry
			var err error
			tk, err = c1.ClusterToken(ctx, adminapi.ClusterTokenRequest{Replace: replace})
			return err
		})
		want := purposeJoin
		if replace != "" {
			want = purposeReplace + replace
		}
		if tk.Purpose != want || tk.CAFingerprint != n1.keys.Fingerprint() || time.Until(tk.Expires) < 59*time.Minute {
			t.Fatalf("cluster token %+v", tk)
		}
		return tk.Token
	}
	token := func(t *testing.T) string { t.Helper(); return replaceToken(t, "") }
	url1 := "https://" + ip1 + ":8443"
	sock2 := filepath.Join(shortDir(t), "b.sock")
	joinOpts := func(dir, tok string) JoinOptions {
		return JoinOptions{
			DataDir: dir, Disks: 2, Site: "b", Token: tok, URL: url1,
			Listen: ip2 + ":8443", ClusterListen: ip2 + ":8444", AdminSocket: sock2, Raft: &joinRaft,
		}
	}
	// leftNothing fails the test if a refused join left dir behind.
	leftNothing := func(t *testing.T, dir string) {
		t.Helper()
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused join left %s behind (%v)", dir, err)
		}
	}

	t.Run("a node serving another CA is refused before anything is sent", func(t *testing.T) {
		good, err := parseJoinToken(token(t))
		if err != nil {
			t.Fatal(err)
		}
		forged := good
		forged.caSum[0] ^= 0xff
		dir := filepath.Join(t.TempDir(), "forged")
		_, err = Join(ctx, joinOpts(dir, forged.String()))
		if !errors.Is(err, ErrWrongCA) || !strings.Contains(err.Error(), "nothing was sent") {
			t.Fatalf("Join with another CA's fingerprint = %v, want ErrWrongCA", err)
		}
		leftNothing(t, dir)
		if _, err := n1.store.Get([]byte(good.key())); err != nil {
			t.Fatalf("the token was spent by a join that sent nothing: %v", err)
		}
	})

	t.Run("an expired token is refused and swept", func(t *testing.T) {
		tok := joinToken{caSum: sha256.Sum256(n1.keys.CACert().Raw), secret: bytes.Repeat([]byte{1}, joinSecretSize)}
		past := time.Now().UTC().Add(-time.Minute)
		b, _ := json.Marshal(joinTokenRecord{Expires: past, Created: past.Add(-time.Hour), CreatedBy: "test", Purpose: purposeJoin})
		if _, err := n1.store.Propose(ctx, raftfsm.Batch{
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(tok.key()), Value: b}},
			Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.token"},
		}); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "expired")
		_, err := Join(ctx, joinOpts(dir, tok.String()))
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("Join with an expired token = %v", err)
		}
		leftNothing(t, dir)
		if _, err := n1.store.Get([]byte(tok.key())); !errors.Is(err, raftfsm.ErrNotFound) {
			t.Fatalf("the expired token is still recorded: %v", err)
		}
	})

	t.Run("a token admits one node under a burst", func(t *testing.T) {
		tok, err := parseJoinToken(token(t))
		if err != nil {
			t.Fatal(err)
		}
		pool := n1.keys.CertPool()
		base, _ := url.Parse(url1)
		csr := testCSR(t)
		// Within the per-address limit, with the expired token's request before and the two
		// joins after: every request reaches the token.
		const burst = joinBurst - 3
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			admitted []string
			refused  []error
		)
		for i := range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := postJoin(ctx, base, pool, joinRequest{
					Token: tok.String(), Site: "b", CSR: csr,
					Cluster: fmt.Sprintf("%s%d:8444", prefix, 10+i), HTTPS: fmt.Sprintf("%s%d:8443", prefix, 10+i),
					Disks: []joinDisk{{Path: "/srv/d1"}},
				})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					refused = append(refused, err)
				} else {
					admitted = append(admitted, resp.NodeID)
				}
			}()
		}
		wg.Wait()
		if len(admitted) != 1 {
			t.Fatalf("%d joins admitted with one token (%v); refused: %v", len(admitted), admitted, refused)
		}
		for _, err := range refused {
			if !strings.Contains(err.Error(), "not valid here") {
				t.Errorf("a concurrent join was refused with %v, want the token refused", err)
			}
		}
		var rec nodeRecord
		if err := getJSON(n1.store, prefixNodes+admitted[0], &rec); err != nil || !admittedState(rec) || rec.Site != "b" {
			t.Fatalf("record of the admitted node: %+v, %v", rec, err)
		}
		// That node never comes: forget it, as `cluster remove` would.
		if _, err := n1.store.Propose(ctx, raftfsm.Batch{
			Ops:   []raftfsm.Op{{Kind: raftfsm.OpDelete, Key: []byte(prefixNodes + admitted[0])}},
			Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.forget"},
		}); err != nil {
			t.Fatal(err)
		}
	})

	// The real join.
	tok := token(t)
	dir2 := filepath.Join(t.TempDir(), "n2")
	res, err := Join(ctx, joinOpts(dir2, tok))
	if err != nil {
		t.Fatal(err)
	}
	if res.CAFingerprint != n1.keys.Fingerprint() || res.ClusterID != n1.cluster.ID || !slices.Contains(res.Members, ip1+":8444") {
		t.Fatalf("join result %+v", res)
	}
	for name, want := range map[string]os.FileMode{
		"keys": 0o700, "keys/cluster.key": 0o600, "keys/signing.key": 0o600, "keys/ca.key": 0o600,
		"keys/ca.pem": 0o644, ConfigFileName: 0o600, "raft": 0o700,
	} {
		fi, err := os.Stat(filepath.Join(dir2, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o (as init writes it)", name, got, want)
		}
	}
	t.Run("a spent token admits no other node", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "again")
		o := joinOpts(dir, tok)
		o.ClusterListen, o.Listen = prefix+"3:8444", prefix+"3:8443"
		if _, err := Join(ctx, o); err == nil || !strings.Contains(err.Error(), "used already") {
			t.Fatalf("second Join with one token = %v", err)
		}
		leftNothing(t, dir)
	})

	t.Run("join attempts past the per-address limit are refused", func(t *testing.T) {
		base, _ := url.Parse(url1)
		limited := false
		for range joinBurst + 1 {
			_, err := postJoin(ctx, base, n1.keys.CertPool(), joinRequest{Token: "bad"})
			if err != nil && strings.Contains(err.Error(), "too many join attempts") {
				limited = true
				break
			}
		}
		if !limited {
			t.Fatal("no join attempt was refused past the limit")
		}
	})

	cfg2, err := LoadConfig(filepath.Join(dir2, ConfigFileName), dir2)
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Node.ID != res.NodeID || cfg2.Node.Site != "b" || cfg2.Raft != joinRaft || len(cfg2.Settings) != 0 {
		t.Fatalf("joined config: %+v", cfg2)
	}
	for i, p := range cfg2.DiskPaths() {
		m, err := readDiskMarker(p)
		if err != nil || m.ClusterID != n1.cluster.ID || m.NodeID != res.NodeID || m.DiskID != diskID(res.NodeID, i) {
			t.Fatalf("disk marker of %s: %+v, %v", p, m, err)
		}
	}

	// The leader adds the node (the reconciler's part) while it starts: the configuration
	// change commits once node 2 answers.
	added := make(chan error, 1)
	go func() { added <- addJoinedToRaft([]*instance{n1}, res.NodeID, ip2+":8444") }()
	n2, _ := runNode(t, cfg2)
	if err := <-added; err != nil {
		t.Fatal(err)
	}

	requireSameState(t, n1, n2)
	var rec nodeRecord
	if err := getJSON(n2.store, prefixNodes+res.NodeID, &rec); err != nil || rec.Cluster != ip2+":8444" || rec.HTTPS != ip2+":8443" || len(rec.Disks) != 2 {
		t.Fatalf("node 2's record as node 2 reads it: %+v, %v", rec, err)
	}

	// Node 2 holds the cluster's keys: it unwraps a file key wrapped on node 1.
	dataKey := bytes.Repeat([]byte{9}, 32)
	wrapped, err := n1.keys.Wrap(ctx, "f-join", dataKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := n2.keys.Unwrap(ctx, "f-join", wrapped); err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("node 2 unwraps node 1's key: %x, %v", got, err)
	}

	// Node 2 serves HTTPS with a certificate of the cluster CA.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n1.keys.CertPool()}}}
	defer hc.CloseIdleConnections()
	body, err := joinGet(ctx, hc, "https://"+ip2+":8443/ca.pem")
	if err != nil || !bytes.Equal(body, n1.keys.CAPEM()) {
		t.Fatalf("node 2's /ca.pem: %v", err)
	}

	// Any node admits a new one: node 3 joins through node 2, a follower (its reads go
	// through the leader, its write is forwarded, it sends the keys itself).
	if n2.store.Status().State.IsLeader() {
		t.Log("node 2 leads now: node 3 joins through the leader")
	}
	ip3 := prefix + "3"
	dir3 := filepath.Join(t.TempDir(), "n3")
	o := joinOpts(dir3, token(t))
	o.URL = "https://" + ip2 + ":8443"
	o.Site, o.Listen, o.ClusterListen, o.AdminSocket = "c", ip3+":8443", ip3+":8444", filepath.Join(shortDir(t), "c.sock")
	res3, err := Join(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	cfg3, err := LoadConfig(filepath.Join(dir3, ConfigFileName), dir3)
	if err != nil {
		t.Fatal(err)
	}
	go func() { added <- addJoinedToRaft([]*instance{n1, n2}, res3.NodeID, ip3+":8444") }()
	n3, stop3 := runNode(t, cfg3)
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	requireSameState(t, n1, n2, n3)
	if got, err := n3.keys.Unwrap(ctx, "f-join", wrapped); err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("node 3 unwraps node 1's key: %x, %v", got, err)
	}

	// Node 3 loses its data directory: join --replace makes a new incarnation of it, with the
	// same ID and new disks, the old ones retired.
	stop3()
	if err := os.RemoveAll(dir3); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.ClusterToken(ctx, adminapi.ClusterTokenRequest{Replace: "n-nosuch"}); err == nil {
		t.Fatal("cluster token --replace of an unknown node was accepted")
	}
	rtok := replaceToken(t, res3.NodeID)
	o.DataDir, o.AdminSocket, o.Token = filepath.Join(t.TempDir(), "n3b"), filepath.Join(shortDir(t), "d.sock"), rtok
	t.Run("a replacement token admits only the replacement", func(t *testing.T) {
		if _, err := Join(ctx, o); err == nil || !strings.Contains(err.Error(), "only the replacement of node "+res3.NodeID) {
			t.Fatalf("Join of a new node with a replacement token = %v", err)
		}
		p := o
		p.Token, p.Replace = token(t), res3.NodeID
		if _, err := Join(ctx, p); err == nil || !strings.Contains(err.Error(), "token admits a new node") {
			t.Fatalf("Join --replace with a new node's token = %v", err)
		}
		leftNothing(t, o.DataDir)
	})
	o.Replace = res3.NodeID
	res3b, err := Join(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res3b.NodeID != res3.NodeID {
		t.Fatalf("the replacement is node %s, want %s", res3b.NodeID, res3.NodeID)
	}
	var rec3 nodeRecord
	if err := getJSON(n1.store, prefixNodes+res3.NodeID, &rec3); err != nil {
		t.Fatal(err)
	}
	wantDisks := []diskRecord{
		{ID: diskID(res3.NodeID, 0), Path: filepath.Join(dir3, "disks", "d1"), State: "retired"},
		{ID: diskID(res3.NodeID, 1), Path: filepath.Join(dir3, "disks", "d2"), State: "retired"},
		{ID: diskID(res3.NodeID, 2), Path: filepath.Join(o.DataDir, "disks", "d1")},
		{ID: diskID(res3.NodeID, 3), Path: filepath.Join(o.DataDir, "disks", "d2")},
	}
	if !admittedState(rec3) || fmt.Sprint(rec3.Disks) != fmt.Sprint(wantDisks) {
		t.Fatalf("the replaced node's record: %+v, want disks %+v", rec3, wantDisks)
	}
	// The lost node's certificates are revoked: those issued before the replacement's.
	var revoked revokedNode
	if err := getJSON(n1.store, prefixRevokedNodes+res3.NodeID, &revoked); err != nil {
		t.Fatalf("no revocation of the replaced node's certificates: %v", err)
	}
	if revoked.Before.IsZero() || revoked.Before.After(time.Now()) {
		t.Fatalf("the replaced node's certificates revoked before %v", revoked.Before)
	}
	cfg3b, err := LoadConfig(filepath.Join(o.DataDir, ConfigFileName), o.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	go func() { added <- replaceInRaft([]*instance{n1, n2}, res3.NodeID, ip3+":8444") }()
	n3b, _ := runNode(t, cfg3b)
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	requireSameState(t, n1, n2, n3b)
}

// admittedState says whether rec is as join leaves it: joining, or already active once the
// leader's membership reconciler added the node.
func admittedState(rec nodeRecord) bool { return rec.State == nodeJoining || rec.State == nodeActive }

// requireSameState waits until the nodes are at one applied index, and fails the test if
// their states differ there.
func requireSameState(t *testing.T, nodes ...*instance) {
	t.Helper()
	poll.UntilNil(t, "the nodes at one state", func() error {
		var applied []uint64
		var hashes [][32]byte
		for _, n := range nodes {
			a, h, err := n.store.StateHash()
			if err != nil {
				return err
			}
			applied, hashes = append(applied, a), append(hashes, h)
		}
		for i := range nodes {
			if applied[i] != applied[0] {
				return fmt.Errorf("applied indexes %v", applied)
			}
		}
		for i := range nodes {
			if hashes[i] != hashes[0] {
				t.Fatalf("nodes %s and %s hold different states at applied index %d", nodes[0].cfg.Node.ID, nodes[i].cfg.Node.ID, applied[0])
			}
		}
		return nil
	})
}

// testCSR returns a PEM certificate request for a new key.
func testCSR(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// TestJoinLeavesNothingOnFailure: when join cannot finish writing the node (here, its Raft
// directory cannot be made, after the keys and the disk markers were written), it removes
// what it created and empties what existed empty, as init does.
func TestJoinLeavesNothingOnFailure(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	kept := filepath.Join(root, "mnt1") // an empty mount point: it stays, emptied
	made := filepath.Join(root, "mnt2") // created by join: removed
	for _, d := range []string{dir, kept} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := initConfig(InitOptions{DataDir: dir, DiskPaths: []string{kept, made}, Listen: "127.0.0.1:8443", ClusterListen: "127.0.0.1:8444"})
	if err != nil {
		t.Fatal(err)
	}
	// A file where the Raft directory goes: the last step before the configuration fails.
	if err := os.WriteFile(cfg.raftDir(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Create(filepath.Join(root, "src"))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := k.Export()
	if err != nil {
		t.Fatal(err)
	}
	tok := joinToken{caSum: sha256.Sum256(k.CACert().Raw), secret: make([]byte, joinSecretSize)}
	admitted := joinResponse{NodeID: cfg.Node.ID, ClusterID: "c-test", Disks: []joinDisk{{ID: "d1", Path: kept}, {ID: "d2", Path: made}}}
	if err := writeJoined(cfg, tok, admitted, bundle, admitted.Disks); err == nil || !strings.Contains(err.Error(), "raft directory") {
		t.Fatalf("writeJoined over a file named raft = %v", err)
	}
	if _, err := os.Stat(made); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed join left %s (%v)", made, err)
	}
	for _, p := range []string{dir, kept} {
		if entries, err := os.ReadDir(p); err != nil || len(entries) != 0 {
			t.Errorf("%s, empty before, holds %d entries after a failed join (%v)", p, len(entries), err)
		}
	}
}
