//go:build large

package clustertest_test

import (
	"testing"

	"valise/cmd/appliance/clustertest"
)

// TestSiteLossLarge stops a whole site of a 3-site, 6-node cluster: every file reads back
// from the nodes left, and writes go on (upload, send, download); once the site returns,
// heal brings every file back to full health and every node holds the same state. Six
// processes are heavy for the race suite: this runs in the serial large tier.
func TestSiteLossLarge(t *testing.T) {
	c := newCluster(t, "paris", "paris", "lyon", "lyon", "lille", "lille")
	token := c.Nodes[0].User("alice@example.org")
	files := uploadAndSend(t, c, token, 6, 2<<20, 60)

	// Lyon goes dark: both of its nodes killed at once.
	lyon := []*clustertest.Node{c.Nodes[2], c.Nodes[3]}
	for _, n := range lyon {
		n.Kill()
	}
	checkEveryNode(t, c, files)
	survivor := c.Nodes[4]
	data := payload(3<<20, 61)
	id, err := survivor.UploadAll(token, "during.bin", data, 1<<20)
	if err != nil {
		t.Fatalf("a write with one site down: %v", err)
	}
	survivor.WaitClean(token, id)
	_, link, err := survivor.Send(token, "bob@example.org", id)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, sent{id, link, clustertest.SHA256(data)})
	checkEveryNode(t, c, files)

	for _, n := range lyon {
		n.Start()
	}
	for _, n := range lyon {
		n.WaitReady()
	}
	waitHealthy(t, c, c.Leader())
	checkEveryNode(t, c, files)
	c.Converged()
}
