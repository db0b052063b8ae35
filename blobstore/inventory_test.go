package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"valise/blobstore"
)

// TestInventory counts the shards present on the disks themselves: every one of a healthy
// file; not the shards of a node whose disks cannot be reached (whatever the map says), nor a
// shard file removed or truncated.
func TestInventory(t *testing.T) {
	c := newCluster(t, "3+3", []int{2, 2, 2})
	ctx := context.Background()
	s := c.stores["s0n0"]
	data := randomData(3, 7*3*testBlock+5)
	m := c.put(s, "inv-file", data)
	all := []int{0, 1, 2, 3, 4, 5}
	present, err := s.Inventory(ctx, m)
	must(t, err)
	if !slices.Equal(present, all) {
		t.Fatalf("Inventory of a healthy file = %v, want %v", present, all)
	}

	// A node away: its shards are not counted, though Check (trusting the map) would not say so.
	c.mu.Lock()
	c.down["s0n2"] = true // unreachable; the map still says up
	c.mu.Unlock()
	present, err = s.Inventory(ctx, m)
	must(t, err)
	var want []int
	for i, d := range m.Shards {
		if c.nodeOf[d] != "s0n2" {
			want = append(want, i)
		}
	}
	if !slices.Equal(present, want) {
		t.Fatalf("Inventory with s0n2 away = %v, want %v", present, want)
	}
	if bad, err := s.Check(ctx, m, nil); err != nil || len(bad) != 0 {
		t.Fatalf("Check with s0n2 away (map up) = %v, %v; want nothing bad", bad, err)
	}
	c.mu.Lock()
	c.down["s0n2"] = false
	c.mu.Unlock()

	// A shard file removed, another truncated.
	must(t, os.Remove(c.shardPath(m, 0)))
	must(t, os.Truncate(c.shardPath(m, 1), 100))
	present, err = s.Inventory(ctx, m)
	must(t, err)
	if !slices.Equal(present, all[2:]) {
		t.Fatalf("Inventory after losing shards 0 and 1 = %v, want %v", present, all[2:])
	}

	if _, err := s.Inventory(ctx, blobstore.Manifest{FileID: "x"}); err == nil {
		t.Fatal("Inventory of a malformed manifest: no error")
	}
}

// TestListShardFilesFindsOrphans lists the shard files of every disk grouped by file, sizes
// only those asked for, names the disks it could not reach, and leaves the files being written
// out. Orphan shard files survive CleanStaged; Purge removes them from every disk.
func TestListShardFilesFindsOrphans(t *testing.T) {
	c := newCluster(t, "3+3", []int{2, 2, 2})
	ctx := context.Background()
	s := c.stores["s0n0"]
	known := c.put(s, "known", randomData(4, 2*3*testBlock))
	orphan := c.put(s, "orphan", randomData(5, 5*3*testBlock+1))
	// A shard being written is not an orphan's.
	w, err := s.Create(ctx, "writing")
	must(t, err)
	_, err = w.Write(randomData(6, 4*3*testBlock))
	must(t, err)
	_, err = w.Checkpoint(ctx)
	must(t, err)
	must(t, w.Close())

	var disks []blobstore.DiskID
	for id := range c.disks {
		disks = append(disks, id)
	}
	slices.Sort(disks)
	isOrphan := func(id blobstore.FileID) bool { return id == orphan.FileID }
	got, err := s.ListShardFiles(ctx, disks, isOrphan)
	must(t, err)
	if len(got) != 2 || got[0].FileID != known.FileID || got[1].FileID != orphan.FileID {
		t.Fatalf("ListShardFiles = %+v, want known and orphan", got)
	}
	if got[0].Shards != 6 || got[0].Bytes != 0 || got[1].Shards != 6 || len(got[1].Disks) != 6 {
		t.Fatalf("ListShardFiles = %+v: want 6 shards each, on 6 disks, known not sized", got)
	}
	var size int64
	for i := range orphan.Shards {
		st, err := os.Stat(c.shardPath(orphan, i))
		must(t, err)
		size += st.Size()
	}
	if got[1].Bytes != size {
		t.Fatalf("orphan's bytes = %d, want %d", got[1].Bytes, size)
	}

	c.mu.Lock()
	c.down["s0n1"] = true
	c.mu.Unlock()
	part, err := s.ListShardFiles(ctx, disks, nil)
	if !errors.Is(err, blobstore.ErrDiskUnavailable) {
		t.Fatalf("ListShardFiles with s0n1 away: error %v, want ErrDiskUnavailable", err)
	}
	if len(part) != 2 || part[1].Shards != 4 {
		t.Fatalf("ListShardFiles with s0n1 away = %+v, want 4 shards of each", part)
	}
	c.mu.Lock()
	c.down["s0n1"] = false
	c.mu.Unlock()

	for _, st := range c.stores {
		must(t, st.CleanStaged(ctx, nil))
	}
	if got, err := s.ListShardFiles(ctx, disks, nil); err != nil || len(got) != 2 || got[1].Shards != 6 {
		t.Fatalf("after CleanStaged: %+v, %v; the orphan's 6 shard files must stay", got, err)
	}
	must(t, s.Purge(ctx, orphan.FileID))
	got, err = s.ListShardFiles(ctx, disks, nil)
	must(t, err)
	if len(got) != 1 || got[0].FileID != known.FileID {
		t.Fatalf("after Purge: %+v, want only known", got)
	}
}

// put stores data as id through s.
func (c *cluster) put(s *blobstore.Store, id blobstore.FileID, data []byte) blobstore.Manifest {
	c.t.Helper()
	m, err := s.Put(context.Background(), id, bytes.NewReader(data))
	must(c.t, err)
	return m
}

// shardPath returns the committed shard file of shard i of m.
func (c *cluster) shardPath(m blobstore.Manifest, i int) string {
	c.t.Helper()
	names, err := c.disks[m.Shards[i]].List(context.Background(), "shards")
	must(c.t, err)
	for _, n := range names {
		if strings.HasSuffix(n, "/"+string(m.FileID)+"."+strconv.Itoa(i)+".shard") {
			return filepath.Join(c.dirs[m.Shards[i]], filepath.FromSlash(n))
		}
	}
	c.t.Fatalf("no shard file %d of %s", i, m.FileID)
	return ""
}
