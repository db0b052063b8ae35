package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/adminapi"
	"valise/internal/poll"
	"valise/raftfsm"
)

// clusterRaft are the Raft timeouts of the cluster tests: fastRaft's 50 ms leader lease
// deposes the leader of several nodes again and again on a loaded 2-core machine under -race.
var clusterRaft = func() RaftConfig {
	c := fastRaft
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	return c
}()

// testNode is a node of a test cluster, served in process.
type testNode struct {
	cfg    Config
	n      *instance
	admin  *adminapi.Client
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// stop stops the node and waits for it; the test's cleanup calls it too.
func (tn *testNode) stop(t *testing.T) {
	tn.once.Do(func() {
		tn.cancel()
		if err := <-tn.done; err != nil {
			t.Errorf("node %s: Run = %v", tn.cfg.Node.ID, err)
		}
		tn.admin.Close()
	})
}

// serveNode serves cfg in process until the test ends, and returns once it serves.
func serveNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	n, err := newInstance(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{cfg: cfg, n: n, admin: adminapi.NewClient(cfg.AdminSocketPath()), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.run(ctx) }()
	t.Cleanup(func() { tn.stop(t) })
	// serving is set after every field the test reads: loading it orders those reads.
	poll.UntilNil(t, "node "+cfg.Node.ID+" serving", func() error {
		select {
		case err := <-tn.done:
			tn.done <- err
			return fmt.Errorf("stopped: %v", err)
		default:
		}
		if !n.serving.Load() {
			return errors.New("starting")
		}
		return nil
	})
	return tn
}

// freePort returns a loopback address with a port free now, for a node whose cluster address
// must be known before it starts (join writes it into the node's record first).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cloneNode makes a new node's data directory from first's, as join will: the same cluster
// keys and metadata state, a new node ID, site, cluster address and disk marker, and an empty
// Raft log, so that the node knows nothing of the cluster's configuration until the leader
// adds it and replicates to it. (Until join exists: the state is first's before it served,
// which the log replays over; entries the state holds are skipped as applied.) It returns the
// new node's configuration and the record join would write: state joining.
func cloneNode(t *testing.T, first Config, site string) (Config, nodeRecord) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := copyTree(first.DataDir, dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node.ID, cfg.Node.Site = "n-"+randomHex(6), site
	cfg.Network.ClusterListen = freePort(t)
	cfg.Network.AdminSocket = filepath.Join(shortDir(t), "a.sock")
	for _, sub := range []string{"raft", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(cfg.raftDir(), sub)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ConfigFileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var cluster clusterInfo
	m, err := readDiskMarker(first.DiskPaths()[0])
	if err != nil {
		t.Fatal(err)
	}
	cluster.ID = m.ClusterID
	rec := nodeRecord{ID: cfg.Node.ID, Site: site, Cluster: cfg.Network.ClusterListen, State: nodeJoining}
	for i, p := range cfg.DiskPaths() {
		id := diskID(cfg.Node.ID, i)
		if err := writeDiskMarker(p, diskMarker{ClusterID: cluster.ID, NodeID: cfg.Node.ID, DiskID: id}); err != nil {
			t.Fatal(err)
		}
		rec.Disks = append(rec.Disks, diskRecord{ID: id, Path: p})
	}
	return cfg, rec
}

// copyTree copies the directory src to dst, keeping file modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case !info.Mode().IsRegular():
			return nil // the lock's socket-free leftovers: nothing to copy
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
}

// putRecord writes rec through store, as join does.
func putRecord(t *testing.T, store *raftfsm.Store, rec nodeRecord) {
	t.Helper()
	b, _ := json.Marshal(rec)
	if _, err := store.Propose(context.Background(), raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(prefixNodes + rec.ID)}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixNodes + rec.ID), Value: b}},
		Audit: raftfsm.Audit{Time: testTime, Actor: "test", Action: "cluster.node.join", Target: rec.ID},
	}); err != nil {
		t.Fatal(err)
	}
}

// suffrages returns "id=Voter,…" for the configuration store knows, sorted by ID.
func suffrages(store *raftfsm.Store) string {
	cfg, err := store.Configuration()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, m := range cfg.Members {
		out = append(out, m.ID+"="+m.Suffrage)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// recordState returns node id's membership state as store holds it.
func recordState(store *raftfsm.Store, id string) string {
	var r nodeRecord
	if err := getJSON(store, prefixNodes+id, &r); err != nil {
		return err.Error()
	}
	return r.state()
}

// TestMembership (issue 18): three real nodes in three sites. A node's record written in state
// joining, for a node started on an empty Raft log, makes the leader add it as a non-voter
// and set the record active; once it runs and has caught up it is promoted, up to three
// voters, one a site; status on every node lists every member with its site, suffrage, state
// and reachability, and the leader. A node restarted on another address is reached there. A
// node replaced with an empty log is removed as a voter
// before it is added back as a non-voter, then promoted once caught up. A record set removed
// takes the node out of Raft, and the two left keep one voter. Every change is journalled in
// order.
func TestMembership(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	if _, err := Init(ctx, InitOptions{
		DataDir: dir, Disks: 1, Site: "A", AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: freePort(t), AdminSocket: filepath.Join(shortDir(t), "a.sock"), Raft: &clusterRaft,
		// No private clamd per node: the test is about membership.
		Settings: map[string]string{"clamd.address": "unix:/nonexistent/valise-test-clamd.sock"},
	}); err != nil {
		t.Fatal(err)
	}
	cfg1, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg2, rec2 := cloneNode(t, cfg1, "B")
	cfg3, rec3 := cloneNode(t, cfg1, "C")
	id1, id2, id3 := cfg1.Node.ID, cfg2.Node.ID, cfg3.Node.ID

	n1 := serveNode(t, cfg1)
	s1 := n1.n.store
	poll.Until(t, "node 1 leading", func() bool { return s1.Status().State.IsLeader() })

	// Node 2's record, before node 2 runs: it is added as a non-voter and stays one, since it
	// cannot have caught up.
	putRecord(t, s1, rec2)
	poll.UntilNil(t, "node 2 a non-voter, its record active", func() error {
		if got, want := suffrages(s1), sortedJoin(id1+"=Voter", id2+"=Nonvoter"); got != want {
			return fmt.Errorf("configuration %s, want %s", got, want)
		}
		if st := recordState(s1, id2); st != nodeActive {
			return fmt.Errorf("record of node 2: %s", st)
		}
		return nil
	})
	t.Run("status lists a member that does not answer", func(t *testing.T) {
		st, err := n1.admin.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := memberOf(st, id2)
		if m.Suffrage != "Nonvoter" || m.Reachable || m.State != nodeActive || m.Site != "B" || m.Address != rec2.Cluster || m.LastContact != "" {
			t.Fatalf("node 2 in status: %+v", m)
		}
		if m := memberOf(st, id1); !m.Leader || !m.Reachable || m.Suffrage != "Voter" || st.Raft.LeaderID != id1 {
			t.Fatalf("node 1 in its own status: %+v, leader %s", m, st.Raft.LeaderID)
		}
	})

	putRecord(t, s1, rec3)
	n2 := serveNode(t, cfg2)
	n3 := serveNode(t, cfg3)
	poll.UntilNil(t, "three voters", func() error {
		if got, want := suffrages(s1), sortedJoin(id1+"=Voter", id2+"=Voter", id3+"=Voter"); got != want {
			return fmt.Errorf("configuration %s, want %s", got, want)
		}
		return nil
	})
	t.Run("status on every node", func(t *testing.T) {
		for i, tn := range []*testNode{n1, n2, n3} {
			poll.UntilNil(t, fmt.Sprintf("node %d's status", i+1), func() error {
				st, err := tn.admin.Status(ctx)
				if err != nil {
					return err
				}
				if len(st.Members) != 3 {
					return fmt.Errorf("members %+v", st.Members)
				}
				for _, m := range st.Members {
					wantSite := map[string]string{id1: "A", id2: "B", id3: "C"}[m.ID]
					if m.Site != wantSite || m.Suffrage != "Voter" || m.State != nodeActive || !m.Reachable || m.LastContact == "" || m.Leader != (m.ID == st.Raft.LeaderID) || m.HTTPS == "" {
						return fmt.Errorf("member %+v (leader %s)", m, st.Raft.LeaderID)
					}
				}
				if st.Raft.LeaderID == "" || st.Raft.LeaderAddress == "" {
					return fmt.Errorf("raft %+v: no leader", st.Raft)
				}
				return nil
			})
		}
	})

	// Node 2 comes back on another cluster port: it publishes its new address (to the leader,
	// which has its old one and so never calls it), and the leader moves its Raft address.
	n2.stop(t)
	cfg2.Network.ClusterListen = freePort(t)
	n2 = serveNode(t, cfg2)
	poll.UntilNil(t, "node 2's new address in raft and in status", func() error {
		cfg, err := s1.Configuration()
		if err != nil {
			return err
		}
		if m, _ := cfg.Member(id2); m.Address != cfg2.Network.ClusterListen || !m.IsVoter() {
			return fmt.Errorf("node 2 in raft: %+v, want a voter at %s", m, cfg2.Network.ClusterListen)
		}
		st, err := n2.admin.Status(ctx)
		if err != nil {
			return err
		}
		if m := memberOf(st, id2); m.Address != cfg2.Network.ClusterListen || st.Raft.LeaderID == "" {
			return fmt.Errorf("node 2's status: %+v, leader %q", m, st.Raft.LeaderID)
		}
		return nil
	})

	// setState sets node id's record state through the leader of nodes, as join --replace and
	// drain do.
	setState := func(nodes []*testNode, id, state string) {
		t.Helper()
		poll.UntilNil(t, "node "+id+"'s record "+state, func() error {
			for _, tn := range nodes {
				if tn.n.store.Status().State.IsLeader() {
					return tn.n.updateRecord(ctx, id, "test", "cluster.node."+state, func(r *nodeRecord) bool {
						r.State = state
						return true
					})
				}
			}
			return errors.New("no leader")
		})
	}

	// Node 3 loses its Raft log and is replaced (join --replace: its record back to joining,
	// same ID). The leader removes the old voter before it adds the new node as a non-voter:
	// a node with an empty log must never vote as the old one did.
	n3.stop(t)
	for _, sub := range []string{"raft", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(cfg3.raftDir(), sub)); err != nil {
			t.Fatal(err)
		}
	}
	setState([]*testNode{n1, n2}, id3, nodeJoining)
	poll.UntilNil(t, "node 3 a non-voter again, its record active", func() error {
		cfg, err := s1.Configuration()
		if err != nil {
			return err
		}
		if m, _ := cfg.Member(id3); m.Suffrage != raftfsm.SuffrageNonvoter || recordState(s1, id3) != nodeActive {
			return fmt.Errorf("configuration %s, record %s", suffrages(s1), recordState(s1, id3))
		}
		return nil
	})
	// Nothing the old node 3 answered may promote the new one before it runs: its promotion
	// must come after this index.
	restartedAt := s1.Progress().LastIndex
	n3 = serveNode(t, cfg3)
	poll.UntilNil(t, "three voters again", func() error {
		if got, want := suffrages(s1), sortedJoin(id1+"=Voter", id2+"=Voter", id3+"=Voter"); got != want {
			return fmt.Errorf("configuration %s, want %s", got, want)
		}
		return nil
	})

	// Drain's last step: the record set removed. The node leaves Raft; two nodes keep one voter.
	setState([]*testNode{n1, n2, n3}, id3, nodeRemoved)
	poll.UntilNil(t, "node 3 out of raft, one voter left", func() error {
		got := suffrages(s1)
		if got != sortedJoin(id1+"=Voter", id2+"=Nonvoter") && got != sortedJoin(id1+"=Nonvoter", id2+"=Voter") {
			return fmt.Errorf("configuration %s", got)
		}
		return nil
	})

	t.Run("journalled in order", func(t *testing.T) {
		want := []string{
			"nonvoter", "activate", "voter", // joined
			"removed", "nonvoter", "activate", "voter", // replaced: the old voter removed first
			"nonvoter", "removed", // removed
		}
		// The journal entry of a change follows the change (changeMember), and node 1 applies
		// it after the configuration polled above: wait for node 3's last entry to be there.
		var got map[string][]string
		var at3 []uint64 // the indexes of node 3's entries
		poll.UntilNil(t, "node 3's membership journalled", func() error {
			got, at3 = map[string][]string{}, nil
			if err := s1.Journal(1, func(e raftfsm.Entry) error {
				if a, ok := strings.CutPrefix(e.Action, "cluster.member."); ok {
					got[e.Target] = append(got[e.Target], a)
					if e.Target == id3 {
						at3 = append(at3, e.Index)
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if len(got[id3]) < len(want) {
				return fmt.Errorf("journal of node 3's membership: %v", got[id3])
			}
			return nil
		})
		if !slices.Equal(got[id3], want) {
			t.Fatalf("journal of node 3's membership: %v, want %v", got[id3], want)
		}
		if at3[6] <= restartedAt {
			t.Fatalf("the replaced node 3 was promoted at index %d, before it ran again (index %d)", at3[6], restartedAt)
		}
		if n2 := got[id2]; len(n2) < 3 || !slices.Equal(n2[:3], []string{"nonvoter", "activate", "voter"}) {
			t.Fatalf("journal of node 2's membership: %v: want non-voter, active, then voter", n2)
		}
	})
}

// sortedJoin joins the sorted items with commas.
func sortedJoin(items ...string) string {
	slices.Sort(items)
	return strings.Join(items, ",")
}

// memberOf returns member id of st, or a zero Member.
func memberOf(st adminapi.Status, id string) adminapi.Member {
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	return adminapi.Member{}
}

// TestHTTPSAdvertised: the HTTPS address a node publishes takes the advertised host (never its
// port, which is the cluster port's) and the bound HTTPS port.
func TestHTTPSAdvertised(t *testing.T) {
	for _, tc := range []struct{ name, advertise, bound, want string }{
		{"bound IP", "", "127.0.0.1:8443", "127.0.0.1:8443"},
		{"advertised name", "files.example.org", "0.0.0.0:8443", "files.example.org:8443"},
		{"advertised with the cluster port", "10.0.0.5:8444", "0.0.0.0:8443", "10.0.0.5:8443"},
		{"ipv6", "[fd00::5]:8444", "[::]:8443", "[fd00::5]:8443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpsAdvertised(tc.advertise, tc.bound); got != tc.want {
				t.Fatalf("httpsAdvertised(%q, %q) = %q, want %q", tc.advertise, tc.bound, got, tc.want)
			}
		})
	}
}
