package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/poll"
	"valise/raftfsm"
)

// TestJoinReplaceReattachesDisks: a node that lost its data directory but not its disks
// rejoins with join --replace and its old disk directories: they keep their disk IDs, and the
// files with shards on them read whole at once, without heal. A marked disk is refused for a
// new node, for another node and for another cluster, and a refused join leaves the disks as
// they were.
func TestJoinReplaceReattachesDisks(t *testing.T) {
	prefix := loopbackPrefix(t)
	ip1, ip2 := prefix+"1", prefix+"2"
	ctx := context.Background()
	dir1 := filepath.Join(t.TempDir(), "n1")
	if _, err := Init(ctx, InitOptions{
		DataDir: dir1, Disks: 2, AdminEmail: "root@example.org", Site: "a",
		Listen: ip1 + ":8443", ClusterListen: ip1 + ":8444", AdminSocket: filepath.Join(shortDir(t), "a.sock"), Raft: &joinRaft,
		Settings: map[string]string{"clamd.address": "tcp:127.0.0.1:1", "storage.layout": "3+1"},
	}); err != nil {
		t.Fatal(err)
	}
	cfg1, err := LoadConfig(filepath.Join(dir1, ConfigFileName), dir1)
	must(t, err)
	cfg1.Blobstore.BlockSize = 4 << 10
	n1, _ := runNode(t, cfg1)
	c1 := adminapi.NewClient(cfg1.AdminSocketPath())
	defer c1.Close()
	token := func(replace string) string {
		t.Helper()
		var tk adminapi.ClusterToken
		poll.UntilNil(t, "a join token", func() error {
			var err error
			tk, err = c1.ClusterToken(ctx, adminapi.ClusterTokenRequest{Replace: replace})
			return err
		})
		return tk.Token
	}
	dir2 := filepath.Join(t.TempDir(), "n2")
	opts := JoinOptions{
		DataDir: dir2, Disks: 2, Site: "b", Token: token(""), URL: "https://" + ip1 + ":8443",
		Listen: ip2 + ":8443", ClusterListen: ip2 + ":8444", AdminSocket: filepath.Join(shortDir(t), "b.sock"), Raft: &joinRaft,
	}
	res, err := Join(ctx, opts)
	must(t, err)
	id2 := res.NodeID
	cfg2, err := LoadConfig(filepath.Join(dir2, ConfigFileName), dir2)
	must(t, err)
	cfg2.Blobstore.BlockSize = 4 << 10
	_, stop2 := runNode(t, cfg2)

	// A file with shards on both nodes.
	data := bytes.Repeat([]byte("valise restore "), 20<<10)
	onNode2 := func(m blobstore.Manifest) int {
		c := 0
		for _, d := range m.Shards {
			if strings.HasPrefix(string(d), id2+"-") {
				c++
			}
		}
		return c
	}
	var m blobstore.Manifest
	try := 0
	poll.UntilNil(t, "a file with shards on node 2", func() error {
		try++
		var err error
		m, err = n1.blobs.Put(ctx, blobstore.FileID(fmt.Sprintf("%sreattach-%d", selftestIDPrefix, try)), bytes.NewReader(data))
		if err != nil {
			return err
		}
		if onNode2(m) != 2 || m.Layout.K != 3 {
			return fmt.Errorf("layout %s, %d shards on node 2 (not in the map yet)", m.Layout, onNode2(m))
		}
		return nil
	})
	// The metadata records it (as a kept selftest file); a file uploaded "after the backup"
	// is recorded nowhere: an orphan.
	raw, err := m.MarshalBinary()
	must(t, err)
	rb, _ := json.Marshal(selftestRecord{Manifest: raw, Size: m.Size, Keep: true, Created: time.Now().UTC()})
	_, err = n1.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixSelftest + string(m.FileID)), Value: rb}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.record"},
	})
	must(t, err)
	orphan, err := n1.blobs.Put(ctx, "uploaded-after-backup", bytes.NewReader(data[:50<<10]))
	must(t, err)

	// Node 2 loses its data directory, not its disks.
	stop2()
	entries, err := os.ReadDir(dir2)
	must(t, err)
	for _, e := range entries {
		if e.Name() != "disks" {
			must(t, os.RemoveAll(filepath.Join(dir2, e.Name())))
		}
	}
	shardsBefore := listShards(t, cfg2.DiskPaths())

	// A restore report: the leader finds the file waiting for node 2, and half the orphan.
	putRestoreReport(t, n1, adminapi.RestoreReport{BackupFile: "b.age", Node: n1.cfg.Node.ID, RestoredAt: time.Now().UTC(), Waiting: 1})
	waitRestoreReport(t, n1, func(r adminapi.RestoreReport) bool {
		return r.Waiting == 1 && r.Complete == 0 && slices.Equal(r.WaitingNodes, []string{id2}) &&
			len(r.Orphans) == 1 && r.Orphans[0].FileID == string(orphan.FileID) && r.Orphans[0].Shards == 2
	})

	t.Run("a marked disk is refused for a new node", func(t *testing.T) {
		o := opts
		o.Token = token("")
		if _, err := Join(ctx, o); err == nil || !strings.Contains(err.Error(), "a new node needs empty disks") {
			t.Fatalf("Join of a new node over node 2's disks = %v", err)
		}
	})
	rtok := token(id2)
	t.Run("a disk of another node is refused", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		must(t, os.Mkdir(other, 0o700))
		must(t, writeDiskMarker(other, diskMarker{ClusterID: n1.cluster.ID, NodeID: "n-other", DiskID: "n-other-d1"}))
		o := opts
		o.Token, o.Replace, o.DataDir, o.DiskPaths = rtok, id2, filepath.Join(t.TempDir(), "d"), []string{other}
		if _, err := Join(ctx, o); err == nil || !strings.Contains(err.Error(), "belongs to node n-other") {
			t.Fatalf("Join --replace with another node's disk = %v", err)
		}
	})
	t.Run("a disk of another cluster is refused", func(t *testing.T) {
		foreign := filepath.Join(t.TempDir(), "foreign")
		must(t, os.Mkdir(foreign, 0o700))
		must(t, writeDiskMarker(foreign, diskMarker{ClusterID: "c-other", NodeID: id2, DiskID: diskID(id2, 0)}))
		o := opts
		o.Token, o.Replace, o.DataDir, o.DiskPaths = rtok, id2, filepath.Join(t.TempDir(), "d"), []string{foreign}
		if _, err := Join(ctx, o); err == nil || !strings.Contains(err.Error(), "belongs to cluster c-other") {
			t.Fatalf("Join --replace with another cluster's disk = %v", err)
		}
	})
	if got := listShards(t, cfg2.DiskPaths()); !slices.Equal(got, shardsBefore) {
		t.Fatalf("refused joins changed node 2's disks: %d shard files, were %d", len(got), len(shardsBefore))
	}

	// The replacement, with the old disks: same IDs, active, no disk retired.
	o := opts
	o.Token, o.Replace = rtok, id2
	if _, err := Join(ctx, o); err != nil {
		t.Fatal(err)
	}
	var rec nodeRecord
	must(t, getJSON(n1.store, prefixNodes+id2, &rec))
	want := []diskRecord{{ID: diskID(id2, 0), Path: cfg2.DiskPaths()[0]}, {ID: diskID(id2, 1), Path: cfg2.DiskPaths()[1]}}
	if fmt.Sprint(rec.Disks) != fmt.Sprint(want) {
		t.Fatalf("node 2's record after the replacement: disks %+v, want %+v", rec.Disks, want)
	}
	for i, p := range cfg2.DiskPaths() {
		if mk, err := readDiskMarker(p); err != nil || mk.DiskID != diskID(id2, i) || mk.NodeID != id2 {
			t.Fatalf("marker of %s after the replacement: %+v, %v", p, mk, err)
		}
	}
	cfg2b, err := LoadConfig(filepath.Join(dir2, ConfigFileName), dir2)
	must(t, err)
	n2b, _ := runNode(t, cfg2b)
	poll.UntilNil(t, "node 1 reaching node 2's re-attached disks", func() error {
		present, err := n1.blobs.Inventory(ctx, m)
		if err != nil {
			return err
		}
		if len(present) != len(m.Shards) {
			return fmt.Errorf("shards present %v of %d", present, len(m.Shards))
		}
		return nil
	})
	// The leader sees node 2 back: nothing waits, the orphan's four shards are listed.
	waitRestoreReport(t, n1, func(r adminapi.RestoreReport) bool {
		return r.Waiting == 0 && r.Complete == 1 && r.Lost == 0 && len(r.WaitingNodes) == 0 &&
			len(r.Orphans) == 1 && r.Orphans[0].Shards == 4
	})

	// Node 2's shards are on its re-attached disks, found through the cluster port (Inventory
	// opens each and checks its header); the file reads whole and nothing needs heal.
	for _, n := range []*instance{n1, n2b} {
		var buf bytes.Buffer
		if err := n.blobs.Get(ctx, m, &buf, 0, -1); err != nil || sha256.Sum256(buf.Bytes()) != sha256.Sum256(data) {
			t.Fatalf("read on %s after the replacement: %v", n.cfg.Node.ID, err)
		}
		if bad, err := n.blobs.Check(ctx, m, nil); err != nil || len(bad) != 0 {
			t.Fatalf("Check on %s after the replacement = %v, %v", n.cfg.Node.ID, bad, err)
		}
	}
}

// listShards returns the shard files under the disk directories, sorted.
func listShards(t *testing.T, disks []string) []string {
	t.Helper()
	var out []string
	for _, p := range disks {
		d, err := blobstore.NewDirDisk("x", p)
		must(t, err)
		names, err := d.List(context.Background(), "shards")
		must(t, err)
		out = append(out, names...)
	}
	slices.Sort(out)
	return out
}

// TestJoinDisks: which disk directories a joining node sends as new, which as re-attached,
// and which it refuses, with the sentence saying why; and the data directory it accepts.
func TestJoinDisks(t *testing.T) {
	mark := func(t *testing.T, node, disk string, extra ...string) string {
		p := filepath.Join(t.TempDir(), "disk")
		must(t, os.MkdirAll(filepath.Join(p, "shards", "ab"), 0o700))
		must(t, writeDiskMarker(p, diskMarker{ClusterID: "c-1", NodeID: node, DiskID: disk}))
		for _, e := range extra {
			must(t, os.WriteFile(filepath.Join(p, e), nil, 0o600))
		}
		return p
	}
	empty := func(t *testing.T) string { return t.TempDir() }
	for _, tc := range []struct {
		name     string
		disks    func(t *testing.T) []string
		replace  string
		reattach []string // per disk, "" for a new one
		err      string
	}{
		{"empty and missing disks are new", func(t *testing.T) []string { return []string{empty(t), filepath.Join(t.TempDir(), "missing")} }, "", []string{"", ""}, ""},
		{"the replaced node's disks are re-attached", func(t *testing.T) []string { return []string{mark(t, "n-a", "n-a-d1"), empty(t)} }, "n-a", []string{"n-a-d1", ""}, ""},
		{"a marked disk for a new node", func(t *testing.T) []string { return []string{mark(t, "n-a", "n-a-d1")} }, "", nil, "a new node needs empty disks"},
		{"another node's disk", func(t *testing.T) []string { return []string{mark(t, "n-b", "n-b-d1")} }, "n-a", nil, "belongs to node n-b"},
		{"one disk twice", func(t *testing.T) []string { return []string{mark(t, "n-a", "n-a-d1"), mark(t, "n-a", "n-a-d1")} }, "n-a", nil, "both marked as disk n-a-d1"},
		{"a marked disk holding more", func(t *testing.T) []string { return []string{mark(t, "n-a", "n-a-d1", "notes.txt")} }, "n-a", nil, "holds notes.txt"},
		{"an unmarked disk holding files", func(t *testing.T) []string {
			p := empty(t)
			must(t, os.WriteFile(filepath.Join(p, "x"), nil, 0o600))
			return []string{p}
		}, "n-a", nil, "holds x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := tc.disks(t)
			got, err := joinDisks(paths, tc.replace)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("joinDisks = %+v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			must(t, err)
			for i, d := range got {
				if d.Path != paths[i] || d.Reattach != tc.reattach[i] || (d.Reattach != "") != (d.ClusterID == "c-1") {
					t.Fatalf("disk %d = %+v, want re-attached as %q", i, d, tc.reattach[i])
				}
			}
		})
	}

	t.Run("the data directory may hold the disks re-attached only", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "disks", "d1")
		must(t, os.MkdirAll(filepath.Join(p, "shards"), 0o700))
		must(t, writeDiskMarker(p, diskMarker{ClusterID: "c-1", NodeID: "n-a", DiskID: "n-a-d1"}))
		disks, err := joinDisks([]string{p}, "n-a")
		must(t, err)
		must(t, checkJoinDataDir(dir, disks))
		must(t, os.WriteFile(filepath.Join(dir, "config.toml"), nil, 0o600))
		if err := checkJoinDataDir(dir, disks); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("checkJoinDataDir with a config left = %v, want ErrNotEmpty", err)
		}
	})
}

// FuzzJoinDisks feeds joinDisks any disk marker: it refuses it or re-attaches the disk the
// marker names, for the node replaced only, and never panics.
func FuzzJoinDisks(f *testing.F) {
	f.Add([]byte(`{"cluster_id":"c-1","node_id":"n-a","disk_id":"n-a-d1"}`))
	f.Add([]byte(`{"cluster_id":"","node_id":"n-a","disk_id":""}`))
	f.Add([]byte(`{"node_id":"n-b"}`))
	f.Add([]byte(`not json`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, marker []byte) {
		p := filepath.Join(dir, "disk")
		must(t, os.MkdirAll(p, 0o700))
		must(t, os.WriteFile(filepath.Join(p, diskMarkerName), marker, 0o600))
		got, err := joinDisks([]string{p}, "n-a")
		if err != nil {
			return
		}
		m, rerr := readDiskMarker(p)
		if rerr != nil || len(got) != 1 || got[0].Reattach != m.DiskID || m.NodeID != "n-a" || m.DiskID == "" || m.ClusterID == "" {
			t.Fatalf("joinDisks(%q) = %+v, accepted", marker, got)
		}
	})
}
