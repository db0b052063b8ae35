package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"valise/adminapi"
)

// This file is the backup operator of the cluster (issue 19): a backup taken on one node, every
// node's metadata and keys destroyed with their disks kept, one node restored from the backup
// and the others rejoining with their disks, as the README's "Backup and restore" tells.

// Backup runs `appliance backup` on n into file, protected by the passphrase in passFile, and
// returns its output.
func (n *Node) Backup(file, passFile string) string {
	n.c.t.Helper()
	return n.MustRun("backup", "--out", file, "--passphrase-file", passFile)
}

// SigningKey returns the fingerprint of the cluster's signing key, as `status --json` gives it.
func (n *Node) SigningKey() string {
	n.c.t.Helper()
	k := n.Status().Cluster.SigningKey
	if !strings.HasPrefix(k, "SHA256:") {
		n.c.t.Fatalf("%s: status gives the signing key %q, want SHA256:…", n.Name, k)
	}
	return k
}

// Destroy stops n and destroys its metadata and keys, as a lost machine whose disks survive:
// the disk directories are moved out of the data directory (to DIR-disks), which is removed.
// It returns the disk directories.
func (n *Node) Destroy() []string {
	n.c.t.Helper()
	n.Stop()
	kept := n.Dir + "-disks"
	if err := os.Rename(filepath.Join(n.Dir, "disks"), kept); err != nil {
		n.c.t.Fatalf("%s: keep the disks: %v", n.Name, err)
	}
	n.c.t.Cleanup(func() {
		if !n.c.t.Failed() {
			os.RemoveAll(kept)
		}
	})
	if err := os.RemoveAll(n.Dir); err != nil {
		n.c.t.Fatalf("%s: destroy: %v", n.Name, err)
	}
	var disks []string
	for i := 1; i <= n.c.opts.Disks; i++ {
		disks = append(disks, filepath.Join(kept, "d"+strconv.Itoa(i)))
	}
	return disks
}

// RestoreArgs returns the arguments of `appliance restore` for n from file, on disks, with
// the node's addresses and the extra arguments given.
func (n *Node) RestoreArgs(file, passFile, expectKey string, disks []string, extra ...string) []string {
	args := []string{"restore", "--from", file, "--passphrase-file", passFile, "--expect-key", expectKey,
		"--site", n.Site, "--listen", n.HTTPS(), "--cluster-listen", n.ClusterAddr()}
	for _, d := range disks {
		args = append(args, "--disk", d)
	}
	return append(args, extra...)
}

// Restore restores n from file on disks, then starts it and waits until it is ready; it
// returns restore's output.
func (n *Node) Restore(file, passFile, expectKey string, disks []string, extra ...string) string {
	n.c.t.Helper()
	out := n.MustRun(n.RestoreArgs(file, passFile, expectKey, disks, extra...)...)
	n.started()
	return out
}

// Rejoin has n, destroyed, join the cluster of from again as the node it was (join
// --replace) with its disks, then starts it and waits until it is ready.
func (n *Node) Rejoin(from *Node, disks []string) string {
	n.c.t.Helper()
	if n.ID == "" {
		n.c.t.Fatalf("%s: no node ID to replace", n.Name)
	}
	out := strings.TrimSpace(from.MustRun("cluster", "token", "--replace", n.ID))
	lines := strings.Split(out, "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	args := []string{"join", "--replace", n.ID, "--site", n.Site, "--token", token,
		"--listen", n.HTTPS(), "--cluster-listen", n.ClusterAddr()}
	for _, d := range disks {
		args = append(args, "--disk", d)
	}
	joined := n.MustRun(append(args, from.URL())...)
	n.started()
	return joined
}

// started applies the test's node settings to a node's new configuration (written by init,
// join or restore), starts it and waits until it is ready with its status answering (the
// admin socket may still say the node is starting when /readyz answers).
func (n *Node) started() {
	n.c.t.Helper()
	if !n.c.opts.LAN {
		n.setRaftTimeouts(TestRaftTimeouts)
	}
	if n.c.opts.ClamdAddress != "" {
		// A node setting (issue 18): in each node's own valise.toml, read at start.
		n.setLocal("clamd", "address", n.c.opts.ClamdAddress)
	}
	n.Start()
	n.WaitReady()
	n.WaitStatus("its status", func(st adminapi.Status) error {
		if n.ID != "" && st.Node.ID != n.ID {
			return stop{fmt.Errorf("node ID %s, want %s", st.Node.ID, n.ID)}
		}
		n.ID = st.Node.ID
		return nil
	})
}
