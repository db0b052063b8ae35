package clustertest_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"valise/adminapi"
	"valise/cmd/appliance/clustertest"
)

// uploadAndSend uploads count files of about size bytes to nodes in turn, waits for their
// verdicts and sends each by link: the acknowledged files a fault test must keep.
func uploadAndSend(t *testing.T, c *clustertest.Cluster, token string, count, size int, seed uint64) []sent {
	t.Helper()
	var out []sent
	for i := range count {
		n := c.Nodes[i%len(c.Nodes)]
		if !n.Running() {
			n = c.Leader()
		}
		data := payload(size+i*4099, seed+uint64(i))
		id, err := n.UploadAll(token, fmt.Sprintf("f%d.bin", i), data, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n.WaitClean(token, id)
		_, link, err := n.Send(token, "bob@example.org", id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sent{id: id, link: link, sha: clustertest.SHA256(data)})
	}
	return out
}

// shardFiles lists the committed shard files under a disk directory.
func shardFiles(t *testing.T, disk string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(disk, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".shard") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitHealthy runs heal on n and waits until every running node reports no degraded file.
func waitHealthy(t *testing.T, c *clustertest.Cluster, n *clustertest.Node) {
	t.Helper()
	n.MustRun("heal")
	for _, m := range c.Nodes {
		if !m.Running() {
			continue
		}
		m.WaitStatus("no degraded file", func(st adminapi.Status) error {
			if st.DegradedFiles != 0 {
				return fmt.Errorf("%d degraded files", st.DegradedFiles)
			}
			return nil
		})
	}
}

// TestKillFollowerMidUpload kills a follower with SIGKILL in the middle of an upload: the
// upload goes on and is acknowledged, the follower restarts and catches up, heal rebuilds the
// shards it missed, and every file reads back from every node.
func TestKillFollowerMidUpload(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	token := c.Nodes[0].User("alice@example.org")
	leader := c.Leader()
	follower := c.Others(leader)[0]

	data := payload(4<<20+77, 5)
	up, err := leader.CreateUpload(token, "mid.bin", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Patch(token, up, data, 1<<20); err != nil {
		t.Fatal(err)
	}
	follower.Kill()
	for up.Offset < up.Size {
		if err := leader.Patch(token, up, data, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	leader.WaitClean(token, up.FileID())
	_, link, err := leader.Send(token, "bob@example.org", up.FileID())
	if err != nil {
		t.Fatal(err)
	}
	files := []sent{{up.FileID(), link, clustertest.SHA256(data)}}

	follower.Start()
	follower.WaitReady()
	waitHealthy(t, c, leader)
	checkEveryNode(t, c, files)
	c.Converged()
}

// TestDiskFaults damages shards on two disks of two nodes while the cluster serves — one disk
// directory removed, bytes flipped in some shard files and others truncated on a second —
// and checks that every file still reads back bit-exact, that scrub and heal repair it all,
// and that the removed disk, replaced by an empty directory, is refilled after a restart.
func TestDiskFaults(t *testing.T) {
	c := newCluster(t, "paris", "lyon", "lille")
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	token := n1.User("alice@example.org")
	files := uploadAndSend(t, c, token, 4, 700<<10, 40)

	removed := filepath.Join(n2.Dir, "disks", "d1")
	if err := os.RemoveAll(removed); err != nil {
		t.Fatal(err)
	}
	damaged := shardFiles(t, filepath.Join(n3.Dir, "disks", "d1"))
	if len(damaged) == 0 {
		t.Fatal("no shard on the second node's first disk: placement did not spread the files")
	}
	for i, p := range damaged {
		if i%2 == 0 {
			flipByte(t, p)
		} else {
			truncateHalf(t, p)
		}
	}
	checkEveryNode(t, c, files)

	// Scrub finds the bitrot and the truncated shards, heal rebuilds what is missing.
	n1.MustRun("scrub")
	waitHealthy(t, c, n1)
	checkEveryNode(t, c, files)

	// The removed disk comes back as an operator would replace it: an empty directory at the
	// same path; the node gives it a new identity at start and heal refills it.
	if err := os.MkdirAll(removed, 0o700); err != nil {
		t.Fatal(err)
	}
	n2.Stop()
	n2.Start()
	n2.WaitReady()
	n2.WaitStatus("both disks serving", func(st adminapi.Status) error {
		for _, d := range st.Disks {
			if d.State != "ok" {
				return fmt.Errorf("disk %s is %s", d.Path, d.State)
			}
		}
		return nil
	})
	waitHealthy(t, c, n1)
	checkEveryNode(t, c, files)
	c.Converged()
}

// flipByte inverts one byte in the middle of a shard file's data.
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2+len(b)/4] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// truncateHalf cuts a shard file to half its length.
func truncateHalf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestFullDisk fills one node's disk (a 16 MiB tmpfs): uploads go on to the other disks or
// fail with a clear error, and every acknowledged file reads back bit-exact.
func TestFullDisk(t *testing.T) {
	clustertest.RequireRoot(t, "a full disk (mount -t tmpfs) and its unmount")
	c := newCluster(t, "paris", "lyon", "lille")
	n1, n2 := c.Nodes[0], c.Nodes[1]
	token := n1.User("alice@example.org")

	// Put n2's first disk on a small tmpfs, keeping its identity file.
	disk := filepath.Join(n2.Dir, "disks", "d1")
	marker, err := os.ReadFile(filepath.Join(disk, "valise-disk.json"))
	if err != nil {
		t.Fatal(err)
	}
	n2.Stop()
	if err := os.RemoveAll(disk); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(disk, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		c.Nodes[1].Kill()
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})
	if err := os.WriteFile(filepath.Join(disk, "valise-disk.json"), marker, 0o600); err != nil {
		t.Fatal(err)
	}
	n2.Start()
	n2.WaitReady()

	// 16 files of 8 MiB: the small disk's share of them is about three times what it holds.
	var acked []sent
	var refused []string
	for i := range 16 {
		data := payload(8<<20, uint64(500+i))
		n := c.Nodes[i%3]
		id, err := n.UploadAll(token, fmt.Sprintf("fill%d.bin", i), data, 4<<20)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		n.WaitClean(token, id)
		_, link, err := n.Send(token, "bob@example.org", id)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, sent{id, link, clustertest.SHA256(data)})
	}
	for _, msg := range refused {
		if !strings.Contains(strings.ToLower(msg), "space") && !strings.Contains(strings.ToLower(msg), "full") {
			t.Errorf("an upload failed without saying the disk is full: %s", msg)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no upload succeeded with two nodes' disks free")
	}
	t.Logf("%d uploads acknowledged, %d refused", len(acked), len(refused))
	checkEveryNode(t, c, acked)
	c.Converged()
}
