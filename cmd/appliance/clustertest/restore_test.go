package clustertest_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"valise/adminapi"
	"valise/cmd/appliance/clustertest"
)

// uploadMany uploads count files of sizes from 1 KiB to about 48 KiB, spread over the nodes,
// four at a time, and returns them in order with their SHA-256 once clean.
func uploadMany(t *testing.T, c *clustertest.Cluster, token string, count int, seed uint64) []sent {
	t.Helper()
	files := make([]sent, count)
	var wg sync.WaitGroup
	errs := make(chan error, count)
	sem := make(chan struct{}, 4)
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n := c.Nodes[i%len(c.Nodes)]
			data := payload(1<<10+(i*997)%(47<<10), seed+uint64(i))
			id, err := n.UploadAll(token, fmt.Sprintf("file-%d-%d.bin", seed, i), data, 16<<10)
			if err != nil {
				errs <- err
				return
			}
			files[i] = sent{id: id, sha: clustertest.SHA256(data)}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, f := range files {
		if sha := c.Nodes[i%len(c.Nodes)].WaitClean(token, f.id); sha != f.sha {
			t.Fatalf("file %s: SHA-256 %s, want %s", f.id, sha, f.sha)
		}
	}
	return files
}

// link is one send of the scenario, with what its link must do after the restore.
type link struct {
	id, token, password string
	files               []sent
	revoked             bool // revoked before the backup: gone after the restore too
}

// TestBackupRestoreCluster is issue 19's scenario, with real processes: a 3-node cluster with
// 200 files, 50 sends (some revoked, some with passwords), users and settings is backed up;
// more is sent after the backup; every node's metadata and keys are destroyed, the disks kept.
// One node is restored from the backup, the two others rejoin with their disks: every file of
// the backup reads back with its SHA-256, links work or 404 as at backup time, the files
// uploaded after the backup are listed as orphans, sessions and tokens are revoked, writes
// after the restore survive a restart of every node and every journal verifies. A backup of
// another cluster is refused.
func TestBackupRestoreCluster(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	alice := n1.User("alice@example.org")
	n1.User("carol@example.org")
	n1.MustRun("user", "disable", "--email", "carol@example.org")
	n1.MustRun("settings", "set", "heal.interval", "7h")

	files := uploadMany(t, c, alice, 200, 1000)
	var links []link
	for i := range 50 {
		l := link{files: files[i*4 : i*4+4], revoked: i < 10}
		var opts map[string]any
		if i >= 10 && i < 20 {
			l.password = fmt.Sprintf("Correct-Horse-%d-Battery", i)
			opts = map[string]any{"password": l.password}
		}
		var ids []string
		for _, f := range l.files {
			ids = append(ids, f.id)
		}
		var err error
		l.id, l.token, err = c.Nodes[i%3].SendWith(alice, fmt.Sprintf("r%d@example.net", i), opts, ids...)
		if err != nil {
			t.Fatal(err)
		}
		if l.revoked {
			if err := n2.Revoke(alice, l.id); err != nil {
				t.Fatal(err)
			}
		}
		links = append(links, l)
	}

	// The backup, on a follower: any node takes one.
	dir := t.TempDir()
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte("a long backup passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.age")
	out := n2.Backup(file, pass)
	if !strings.Contains(out, "sha256:") {
		t.Fatalf("backup printed no sha256 line:\n%s", out)
	}
	key := n1.SigningKey()
	if out, err := n1.RunOffline("backup", "verify", file, "--passphrase-file", pass, "--expect-key", key); err != nil || !strings.Contains(out, key) {
		t.Fatalf("backup verify: %v; it must name the signing key %s:\n%s", err, key, out)
	}

	// After the backup: new files and a send, and a link of the backup revoked. Nothing records
	// them once the metadata is lost: the files are orphans, the revoked link works again.
	later := uploadMany(t, c, alice, 5, 5000)
	if _, _, err := n3.Send(alice, "late@example.net", later[0].id); err != nil {
		t.Fatal(err)
	}
	if err := n1.Revoke(alice, links[20].id); err != nil {
		t.Fatal(err)
	}

	// A backup of another cluster, signed by its own key, is refused before anything is written.
	other := newCluster(t, "elsewhere")
	otherFile := filepath.Join(dir, "other.age")
	other.Nodes[0].Backup(otherFile, pass)
	other.Nodes[0].Kill()

	// Every node lost: metadata and keys destroyed, disks kept.
	disks := map[*clustertest.Node][]string{}
	for _, n := range c.Nodes {
		disks[n] = n.Destroy()
	}

	_, err := n1.Run(n1.RestoreArgs(otherFile, pass, key, disks[n1])...)
	if clustertest.ExitCode(err) != 1 || !strings.Contains(err.Error(), key) {
		t.Fatalf("restore of another cluster's backup: %v, want exit 1 naming the expected key", err)
	}
	if entries, err := os.ReadDir(n1.Dir); err == nil && len(entries) > 0 {
		t.Fatalf("a refused restore left %d entries in %s", len(entries), n1.Dir)
	}

	out = n1.Restore(file, pass, key, disks[n1])
	if !strings.Contains(strings.ToLower(out), "revoked") {
		t.Fatalf("restore does not say sessions and tokens were revoked:\n%s", out)
	}
	n2.Rejoin(n1, disks[n2])
	n3.Rejoin(n1, disks[n3])
	c.WaitMembers()

	// The report: every file of the backup accounted for, none lost, and exactly the files
	// uploaded after the backup as orphans. The files of the sends revoked before the backup
	// were shredded then: the backup holds them as gone, not as files.
	kept := 0
	for _, l := range links {
		if !l.revoked {
			kept += len(l.files)
		}
	}
	var wantOrphans []string
	for _, f := range later {
		wantOrphans = append(wantOrphans, f.id)
	}
	slices.Sort(wantOrphans)
	n1.WaitStatus("the restore report", func(st adminapi.Status) error {
		r := st.Restore
		if r == nil {
			return fmt.Errorf("no restore report")
		}
		if r.Waiting != 0 || r.Lost != 0 || r.Complete+r.Healable != kept {
			return fmt.Errorf("report %d complete, %d healable, %d waiting (%v), %d lost; want %d readable",
				r.Complete, r.Healable, r.Waiting, r.WaitingNodes, r.Lost, kept)
		}
		var got []string
		for _, o := range r.Orphans {
			got = append(got, o.FileID)
		}
		slices.Sort(got)
		if !slices.Equal(got, wantOrphans) {
			return fmt.Errorf("orphans %v, want %v", got, wantOrphans)
		}
		if r.SessionsRevoked+r.TokensRevoked == 0 {
			return fmt.Errorf("the report revoked no session and no token")
		}
		return nil
	})

	// Tokens were revoked: alice's old one is refused, a new one works.
	if resp, _, err := n1.Get("/api/v1/me", alice); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice's token from before the restore: %v %v, want 401", resp, err)
	}
	alice = n1.NewToken("alice@example.org")
	// carol is still disabled: no token for her.
	if _, err := n1.Run("token", "create", "--email", "carol@example.org"); err == nil {
		t.Fatal("carol, disabled at backup time, got a token after the restore")
	}
	if got := strings.TrimSpace(n1.MustRun("settings", "get", "heal.interval")); !strings.Contains(got, "7h") {
		t.Fatalf("heal.interval after the restore: %q, want 7h", got)
	}

	checkLinks(t, c, links)

	// Writes after the restore survive a restart of every node.
	fresh := uploadMany(t, c, alice, 3, 9000)
	_, freshLink, err := n2.Send(alice, "after@example.net", fresh[0].id, fresh[1].id, fresh[2].id)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		n.Stop()
	}
	for _, n := range c.Nodes {
		n.Start()
	}
	for _, n := range c.Nodes {
		n.WaitReady()
	}
	c.WaitMembers()
	for i, f := range fresh {
		f.link = freshLink
		if got, err := c.Nodes[i].Download(f.link, f.id); err != nil || got != f.sha {
			t.Fatalf("file %s written after the restore, after a restart: %s, %v; want %s", f.id, got, err, f.sha)
		}
	}
	c.Converged()
}

// checkLinks checks every link as at backup time, spreading the downloads over the nodes:
// revoked ones 404, password ones need their password, the others download bit-exact.
func checkLinks(t *testing.T, c *clustertest.Cluster, links []link) {
	t.Helper()
	for i, l := range links {
		n := c.Nodes[i%len(c.Nodes)]
		st, err := n.LinkStatus(l.token)
		if err != nil {
			t.Fatal(err)
		}
		if l.revoked {
			if st != http.StatusNotFound {
				t.Fatalf("link of send %s, revoked before the backup: %d, want 404", l.id, st)
			}
			continue
		}
		if st != http.StatusOK {
			t.Fatalf("link of send %s: %d, want 200", l.id, st)
		}
		for _, f := range l.files {
			var got string
			if l.password != "" {
				got, err = n.DownloadWithPassword(l.token, l.password, f.id)
			} else {
				got, err = n.Download(l.token, f.id)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != f.sha {
				t.Fatalf("file %s of send %s reads back with SHA-256 %s, want %s", f.id, l.id, got, f.sha)
			}
		}
	}
}
