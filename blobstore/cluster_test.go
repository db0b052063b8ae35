package blobstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// cluster is several "nodes" in one process: each has its own Store over its own directory
// disks, and reaches the others' disks through a DiskSource (the shard transport's place; the
// shardnet tests run the same over a real cluster port). A node marked down is unreachable
// from the others, and down in everyone's cluster map.
type cluster struct {
	t      *testing.T
	shape  [][]int // per site, per node, its number of disks
	keys   *blobtest.KeyWrapper
	cfg    blobstore.Config
	disks  map[blobstore.DiskID]blobstore.Disk
	dirs   map[blobstore.DiskID]string
	nodeOf map[blobstore.DiskID]string
	stores map[string]*blobstore.Store // by node ID

	mu   sync.Mutex // guards down
	down map[string]bool
}

func nodeName(site, node int) string { return fmt.Sprintf("s%dn%d", site, node) }

func newCluster(t *testing.T, layout string, shape ...[]int) *cluster {
	t.Helper()
	c := &cluster{
		t: t, shape: shape, keys: blobtest.NewKeyWrapper(), cfg: blobstore.DefaultConfig(),
		disks: map[blobstore.DiskID]blobstore.Disk{}, dirs: map[blobstore.DiskID]string{},
		nodeOf: map[blobstore.DiskID]string{}, stores: map[string]*blobstore.Store{}, down: map[string]bool{},
	}
	c.cfg.BlockSize, c.cfg.Layout, c.cfg.Workers, c.cfg.MinFreeBytes = testBlock, layout, 2, 0
	root := t.TempDir()
	local := map[string]map[blobstore.DiskID]blobstore.Disk{}
	for s, nodes := range shape {
		for n, nd := range nodes {
			name := nodeName(s, n)
			local[name] = map[blobstore.DiskID]blobstore.Disk{}
			for d := range nd {
				id := blobstore.DiskID(fmt.Sprintf("%s-d%d", name, d))
				dir := filepath.Join(root, string(id))
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				disk, err := blobstore.NewDirDisk(id, dir)
				if err != nil {
					t.Fatal(err)
				}
				c.disks[id], c.dirs[id], c.nodeOf[id] = disk, dir, name
				local[name][id] = disk
			}
		}
	}
	for name, disks := range local {
		s, err := blobstore.New(c.cfg, c.clusterMap(), disks, clusterSource{c}, c.keys, blobtest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c.stores[name] = s
	}
	return c
}

// clusterSource is the DiskSource of every node: any disk of a node that is not down.
type clusterSource struct{ c *cluster }

func (s clusterSource) Disk(id blobstore.DiskID) (blobstore.Disk, error) {
	d, ok := s.c.disks[id]
	s.c.mu.Lock()
	down := s.c.down[s.c.nodeOf[id]]
	s.c.mu.Unlock()
	if !ok || down {
		return nil, fmt.Errorf("%w: %s", blobstore.ErrDiskUnavailable, id)
	}
	return d, nil
}

func (c *cluster) clusterMap() blobstore.ClusterMap {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cm blobstore.ClusterMap
	for s, nodes := range c.shape {
		site := blobstore.Site{ID: blobstore.SiteID(fmt.Sprintf("s%d", s))}
		for n, nd := range nodes {
			node := blobstore.Node{ID: blobstore.NodeID(nodeName(s, n))}
			for d := range nd {
				info := blobstore.DiskInfo{ID: blobstore.DiskID(fmt.Sprintf("%s-d%d", node.ID, d)), FreeBytes: 1 << 40}
				if c.down[string(node.ID)] {
					info.State, info.FreeBytes = blobstore.DiskDown, 0
				}
				node.Disks = append(node.Disks, info)
			}
			site.Nodes = append(site.Nodes, node)
		}
		cm.Sites = append(cm.Sites, site)
	}
	return cm
}

// setDown marks a node down (or back up) for every other node.
func (c *cluster) setDown(node string, down bool) {
	c.mu.Lock()
	c.down[node] = down
	c.mu.Unlock()
	cm := c.clusterMap()
	for _, s := range c.stores {
		s.SetClusterMap(cm)
	}
}

// wipe empties a node's disk directories (its disks were lost and replaced by empty ones).
func (c *cluster) wipe(node string) {
	c.t.Helper()
	for id, dir := range c.dirs {
		if c.nodeOf[id] != node {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

// read reads the whole file through node's Store.
func (c *cluster) read(node string, m blobstore.Manifest) ([]byte, error) {
	var buf bytes.Buffer
	err := c.stores[node].Get(context.Background(), m, &buf, 0, m.Size)
	return buf.Bytes(), err
}

// perNode counts a manifest's shards per node.
func (c *cluster) perNode(m blobstore.Manifest) map[string]int {
	out := map[string]int{}
	for _, d := range m.Shards {
		out[c.nodeOf[d]]++
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClusterLosesANode: 3 nodes of 2 disks. A file written on one node is spread two shards
// per node (3+3), reads back bit-exact from every node, and still after one node's disks are
// gone; with that node down, writes go on (4 shards of 6 make the quorum, the rest is left for
// heal), and heal rebuilds the lost shards on the node's new, empty disks once it is back
// (issue 18).
func TestClusterLosesANode(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "auto", []int{2, 2, 2})
	p, err := c.stores["s0n0"].Plan()
	if err != nil || p.Layout.String() != "3+3" || p.Domain != blobstore.FailureNode || !p.WritesSurvive {
		t.Fatalf("plan %+v, %v; want 3+3 over nodes, writes surviving", p, err)
	}
	data := randomBytes(t, 40*testBlock+7)
	m, err := c.stores["s0n0"].Put(ctx, "f1", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for n, k := range c.perNode(m) {
		if k != 2 {
			t.Fatalf("node %s holds %d shards of %v, want 2", n, k, m.Shards)
		}
	}
	for node := range c.stores {
		if got, err := c.read(node, m); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read on %s: %v, equal %v", node, err, bytes.Equal(got, data))
		}
	}

	// Node s0n2's disks are lost and the node is down.
	c.wipe("s0n2")
	c.setDown("s0n2", true)
	for _, node := range []string{"s0n0", "s0n1"} {
		got, err := c.read(node, m)
		if !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data) {
			t.Fatalf("read on %s with a node lost: %v, equal %v", node, err, bytes.Equal(got, data))
		}
	}
	// Heal rebuilds the down node's two shards beside the others' own, since no node then
	// holds more than m = 3: the healed file reads back whole with the node still down.
	healed, rep, err := c.stores["s0n0"].Heal(ctx, m)
	if err != nil || len(rep.Moved) != 2 {
		t.Fatalf("heal with a node down: %+v, %v; want its 2 shards moved", rep, err)
	}
	for n, k := range c.perNode(healed) {
		if k > 3 || n == "s0n2" {
			t.Fatalf("node %s holds %d shards of the healed file %v: more than m, or on the down node", n, k, healed.Shards)
		}
	}
	if got, err := c.read("s0n1", healed); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read of the healed file with the node down: %v, equal %v", err, bytes.Equal(got, data))
	}

	// Writes go on with the node down: its two shards fail at once, the quorum holds.
	data2 := randomBytes(t, 9*testBlock)
	m2, err := c.stores["s0n1"].Put(ctx, "f2", bytes.NewReader(data2))
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || len(hn.Shards) != 2 {
		t.Fatalf("put with a node down: %v, want heal needed for 2 shards", err)
	}
	if c.perNode(m2)["s0n2"] != 2 {
		t.Fatalf("the spread was not kept: %v", m2.Shards)
	}
	if got, err := c.read("s0n0", m2); !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data2) {
		t.Fatalf("read of the file written with a node down: %v", err)
	}

	// The node is back with empty disks: heal rebuilds its shards in place.
	c.setDown("s0n2", false)
	for _, mm := range []blobstore.Manifest{m, m2} {
		out, rep, err := c.stores["s0n0"].Heal(ctx, mm)
		if err != nil || len(rep.Moved) != 0 || len(rep.Bad) != 2 {
			t.Fatalf("heal %s: %+v, %v", mm.FileID, rep, err)
		}
		want := data
		if mm.FileID == "f2" {
			want = data2
		}
		if got, err := c.read("s0n2", out); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %s on the healed node: %v", mm.FileID, err)
		}
	}

	// A delete while a node holding shards is away says so, to be retried; then it finishes.
	c.setDown("s0n2", true)
	if err := c.stores["s0n0"].Delete(ctx, m2); !errors.Is(err, blobstore.ErrDiskUnavailable) {
		t.Fatalf("delete with a node down: %v, want ErrDiskUnavailable", err)
	}
	c.setDown("s0n2", false)
	if err := c.stores["s0n0"].Delete(ctx, m2); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	for id, d := range c.disks {
		names, err := d.List(ctx, "shards")
		for _, n := range names {
			if strings.Contains(n, "/f2.") || err != nil {
				t.Fatalf("%s after the delete: %v %v", id, names, err)
			}
		}
	}

	// Two nodes down: too few disks for a write quorum, said plainly.
	c.setDown("s0n1", true)
	c.setDown("s0n2", true)
	if _, err := c.stores["s0n0"].Put(ctx, "f3", bytes.NewReader(data2)); !errors.Is(err, blobstore.ErrNoLayout) {
		t.Fatalf("put with 2 of 3 nodes down: %v", err)
	}
}

// TestClusterRemoteDiskFailsMidWrite: a remote disk that fails while a file is written is a
// lost shard, not a failed upload, while the write quorum holds; resume and delete reach the
// remote disks too.
func TestClusterRemoteDiskFailsMidWrite(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "3+3", []int{2, 2, 2})
	victim := blobstore.DiskID("s0n1-d0")
	fd := blobtest.NewFaultDisk(c.disks[victim])
	c.disks[victim] = fd

	data := randomBytes(t, 30*testBlock)
	w, err := c.stores["s0n0"].Create(ctx, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:10*testBlock]); err != nil {
		t.Fatal(err)
	}
	st, err := w.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Resume on another node, then the remote disk fails mid-write.
	w, err = c.stores["s0n2"].Resume(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	fd.Fail(blobtest.OpWrite, syscall.EIO)
	if _, err := w.Write(data[10*testBlock:]); err != nil {
		t.Fatal(err)
	}
	m, err := w.Commit(ctx)
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || len(hn.Shards) != 1 || m.Shards[hn.Shards[0]] != victim {
		t.Fatalf("commit: %v, want heal needed for the shard on %s (%v)", err, victim, m.Shards)
	}
	if err := c.stores["s0n2"].ReleaseStaged(ctx, m); err != nil {
		t.Fatal(err)
	}
	fd.Heal()
	if got, err := c.read("s0n1", m); !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data) {
		t.Fatalf("read: %v, equal %v", err, bytes.Equal(got, data))
	}
	out, rep, err := c.stores["s0n1"].Heal(ctx, m)
	if err != nil || len(rep.Bad) != 1 {
		t.Fatalf("heal: %+v, %v", rep, err)
	}
	if got, err := c.read("s0n0", out); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after heal: %v", err)
	}
	// Delete from one node removes the shards and staged tails on every node's disks.
	if err := c.stores["s0n0"].Delete(ctx, out); err != nil {
		t.Fatal(err)
	}
	for id, d := range c.disks {
		for _, dir := range []string{"shards", "staged"} {
			if names, err := d.List(ctx, dir); err != nil || len(names) != 0 {
				t.Fatalf("%s/%s after delete: %v %v", id, dir, names, err)
			}
		}
	}
}

// countingDisk counts the piece reads (past the shard header) of the files opened on it.
type countingDisk struct {
	blobstore.Disk
	mu    *sync.Mutex
	reads map[blobstore.DiskID]int
}

func (d countingDisk) Open(ctx context.Context, name string) (blobstore.File, error) {
	f, err := d.Disk.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return countingFile{f, d}, nil
}

type countingFile struct {
	blobstore.File
	d countingDisk
}

func (f countingFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= 512 { // past the shard file header
		f.d.mu.Lock()
		f.d.reads[f.d.ID()]++
		f.d.mu.Unlock()
	}
	return f.File.ReadAt(p, off)
}

// TestClusterDegradedReadsNearestFirst: a read that lacks a data shard takes the piece it
// needs from a local parity shard, not from another node's (issue 18: "reads the nearest k
// shards").
func TestClusterDegradedReadsNearestFirst(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, "3+3", []int{2, 2, 2})
	data := randomBytes(t, 30*testBlock)
	m, err := c.stores["s0n0"].Put(ctx, "f1", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// The reader: a node holding parity shard 4 or 5 but not shard 3 (the first parity shard,
	// which a read taking shards in index order would use); a data shard of another node is
	// lost.
	reader := c.nodeOf[m.Shards[4]]
	if reader == c.nodeOf[m.Shards[3]] {
		reader = c.nodeOf[m.Shards[5]]
	}
	lost := 0
	for c.nodeOf[m.Shards[lost]] == reader {
		lost++
	}
	dir := c.dirs[m.Shards[lost]]
	if err := os.Remove(filepath.Join(dir, "shards", shardDirOf(t, dir), fmt.Sprintf("f1.%d.shard", lost))); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	reads := map[blobstore.DiskID]int{}
	for id, d := range c.disks {
		c.disks[id] = countingDisk{d, &mu, reads}
	}
	got, err := c.read(reader, m)
	if !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data) {
		t.Fatalf("degraded read on %s: %v", reader, err)
	}
	for i := 3; i < 6; i++ {
		if c.nodeOf[m.Shards[i]] != reader && reads[m.Shards[i]] > 0 {
			t.Fatalf("the read on %s took %d pieces of parity shard %d from %s (shards %v)", reader, reads[m.Shards[i]], i, m.Shards[i], m.Shards)
		}
	}
}

// shardDirOf returns the one shard folder of a disk holding one file.
func shardDirOf(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "shards"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("shard folders of %s: %v %v", dir, ents, err)
	}
	return ents[0].Name()
}
