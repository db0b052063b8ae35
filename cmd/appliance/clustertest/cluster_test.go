package clustertest_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"valise/adminapi"
	"valise/cmd/appliance/clustertest"
	"valise/scan/scantest"
)

// clamd is one clamd for every node of every cluster of this test binary (issue 18: one clamd
// shared per test binary).
var clamd = scantest.NewShared(4)

func TestMain(m *testing.M) {
	code := m.Run()
	clamd.Close()
	clustertest.RemoveBinary()
	os.Exit(code)
}

// newCluster starts a cluster of one node per site, every node scanning with the shared clamd.
func newCluster(t *testing.T, sites ...string) *clustertest.Cluster {
	t.Helper()
	return clustertest.New(t, clustertest.Options{
		Sites:        sites,
		ClamdAddress: "unix:" + clamd.Daemon(t).Client().Addr,
	})
}

// payload returns size pseudo-random bytes from seed.
func payload(size int, seed uint64) []byte {
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	_, _ = r.Read(b)
	return b
}

// sent is a file acknowledged by the cluster: uploaded, clean, sent by link.
type sent struct {
	id, link, sha string
}

// checkEveryNode downloads every file from every running node and compares its SHA-256.
func checkEveryNode(t *testing.T, c *clustertest.Cluster, files []sent) {
	t.Helper()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		for _, f := range files {
			got, err := n.Download(f.link, f.id)
			if err != nil {
				t.Fatalf("%s: %v", n.Name, err)
			}
			if got != f.sha {
				t.Fatalf("%s: file %s reads back with SHA-256 %s, want %s", n.Name, f.id, got, f.sha)
			}
		}
	}
}

// TestSendOnOneDownloadFromAnother is the README's walkthrough: three nodes in three sites,
// a file uploaded on one node, sent from another, downloaded bit-exact from every node; every
// node ends with the same state.
func TestSendOnOneDownloadFromAnother(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	token := n1.User("alice@example.org")

	data := payload(5<<20+12345, 1)
	id, err := n2.UploadAll(token, "report.pdf", data, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sha := n3.WaitClean(token, id); sha != clustertest.SHA256(data) {
		t.Fatalf("node 3 reports SHA-256 %s, want %s", sha, clustertest.SHA256(data))
	}
	_, link, err := n3.Send(token, "bob@example.org", id)
	if err != nil {
		t.Fatal(err)
	}
	checkEveryNode(t, c, []sent{{id, link, clustertest.SHA256(data)}})

	// Every node shows the layout in force and every disk of the cluster: three sites of two
	// disks give 3+3, two shards per site, so losing a site keeps files readable and writable.
	for _, n := range c.Nodes {
		n.WaitStatus("the layout and the cluster's disks", func(st adminapi.Status) error {
			l := st.Layout
			if l.Layout != "3+3" || l.FailureDomain != "site" || l.PerDomain != 2 || !l.ReadsSurvive || !l.WritesSurvive {
				return fmt.Errorf("layout %+v, want 3+3 over sites, two per site, surviving reads and writes", l)
			}
			up := 0
			for _, d := range st.ClusterDisks {
				if d.State == "up" {
					up++
				}
			}
			if up != 6 {
				return fmt.Errorf("%d cluster disks up, want 6: %+v", up, st.ClusterDisks)
			}
			return nil
		})
	}
	c.Converged()
}

// TestKillLeaderDuringUploads kills the leader with SIGKILL while several clients upload: a
// new leader takes over, every upload acknowledged before the kill reads back bit-exact from
// every node, and an upload cut by the kill is finished with tus on another node.
func TestKillLeaderDuringUploads(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	token := c.Nodes[0].User("alice@example.org")
	leader := c.Leader()
	others := c.Others(leader)

	// An upload half done on the leader when it dies.
	cutData := payload(3<<20, 99)
	cut, err := leader.CreateUpload(token, "cut.bin", int64(len(cutData)))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Patch(token, cut, cutData, 1<<20); err != nil {
		t.Fatal(err)
	}

	// Clients upload to every node until the kill, then keep going on the survivors.
	var mu sync.Mutex
	var acked []sent
	upload := func(n *clustertest.Node, seed uint64) error {
		data := payload(256<<10+int(seed), seed)
		id, err := n.UploadAll(token, fmt.Sprintf("f%d.bin", seed), data, 64<<10)
		if err != nil {
			return err
		}
		mu.Lock()
		acked = append(acked, sent{id: id, sha: clustertest.SHA256(data)})
		mu.Unlock()
		return nil
	}
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 3 {
				// Errors are expected on the node being killed; what was acknowledged counts.
				_ = upload(n, uint64(100*i+j))
			}
		}()
	}
	leader.Kill()
	wg.Wait()
	for j := range 3 {
		if err := upload(others[j%2], uint64(1000+j)); err != nil {
			t.Fatalf("upload after the kill: %v", err)
		}
	}
	newLeader := c.Leader()
	if newLeader == leader {
		t.Fatal("the killed node is still the leader")
	}

	// The cut upload resumes on a survivor: HEAD gives the acknowledged offset.
	survivor := others[0]
	if err := survivor.Offset(token, cut); err != nil {
		t.Fatal(err)
	}
	if cut.Offset != 1<<20 {
		t.Fatalf("the cut upload resumes at %d, want %d (what was acknowledged)", cut.Offset, 1<<20)
	}
	for cut.Offset < cut.Size {
		if err := survivor.Patch(token, cut, cutData, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	acked = append(acked, sent{id: cut.FileID(), sha: clustertest.SHA256(cutData)})

	// Every acknowledged file is clean, sent, and reads back from every node once the killed
	// node is back.
	leader.Start()
	leader.WaitReady()
	for i := range acked {
		survivor.WaitClean(token, acked[i].id)
		_, link, err := survivor.Send(token, "bob@example.org", acked[i].id)
		if err != nil {
			t.Fatal(err)
		}
		acked[i].link = link
	}
	checkEveryNode(t, c, acked)
	c.Converged()
}

// TestPartitionedLeader cuts the leader from the majority: the majority elects a leader and
// goes on, the minority refuses writes, a link revoked on the majority is refused on every node
// that answers, and once healed every node holds the same state.
func TestPartitionedLeader(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	token := c.Nodes[0].User("alice@example.org")
	data := payload(300<<10, 7)
	id, err := c.Nodes[0].UploadAll(token, "a.bin", data, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes[0].WaitClean(token, id)

	old := c.Leader()
	majority := c.Others(old)
	sendID, link, err := majority[0].Send(token, "bob@example.org", id)
	if err != nil {
		t.Fatal(err)
	}

	p := clustertest.NewPartition(t)
	p.Isolate([]*clustertest.Node{old}, majority)

	// The majority elects a leader among its own.
	clustertest.WaitLeaderAmong(t, majority)
	// The minority refuses writes, with an error that says the cluster is unavailable: an
	// upload, and an administrator's command (exit status 4: try again).
	if _, err := old.UploadOnce(token, "b.bin", data, 1<<20); err == nil {
		t.Fatal("an upload on the isolated old leader was acknowledged")
	}
	if _, err := old.Run("user", "add", "--email", "mallory@example.org"); clustertest.ExitCode(err) != clustertest.ExitUnavailable {
		t.Fatalf("user add on the isolated old leader: %v, want exit status %d", err, clustertest.ExitUnavailable)
	}
	// Revoked on the majority: refused everywhere that answers.
	if err := majority[1].Revoke(token, sendID); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if _, err := n.DownloadOnce(link, id); err == nil {
			t.Fatalf("%s serves a revoked link", n.Name)
		}
	}

	p.Heal()
	c.WaitMembers()
	c.Converged()
}
