package shardnet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/blobstore/shardnet"
	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/testlog"
)

// storeNode is one node of a loopback cluster: a cluster port serving its disks, a shard
// client, and a Store reaching the other nodes' disks through that client.
type storeNode struct {
	id     string
	mux    *clusternet.Mux
	server *shardnet.Server
	disks  map[blobstore.DiskID]blobstore.Disk
	store  *blobstore.Store
}

// remoteSource is a DiskSource over a shard client: the disks of the other nodes, by the
// address of the node holding them.
type remoteSource struct {
	client *shardnet.Client
	where  map[blobstore.DiskID][2]string // disk → node address, node ID
}

func (s remoteSource) Disk(id blobstore.DiskID) (blobstore.Disk, error) {
	w, ok := s.where[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", blobstore.ErrDiskUnavailable, id)
	}
	return s.client.RemoteDisk(w[0], w[1], id), nil
}

// newStoreCluster starts n nodes of two directory disks each, every Store placing over all
// of them with the automatic layout.
func newStoreCluster(t *testing.T, n int) []*storeNode {
	t.Helper()
	ca := clustertest.NewCA(t)
	var nodes []*storeNode
	where := map[blobstore.DiskID][2]string{}
	var cm blobstore.ClusterMap
	cm.Sites = []blobstore.Site{{ID: "site"}}
	for i := range n {
		sn := &storeNode{id: fmt.Sprintf("node-%d", i), disks: map[blobstore.DiskID]blobstore.Disk{}}
		sn.mux = newMux(t, ca, sn.id)
		bn := blobstore.Node{ID: blobstore.NodeID(sn.id)}
		for d := range 2 {
			id := blobstore.DiskID(fmt.Sprintf("%s-d%d", sn.id, d))
			disk, err := blobstore.NewDirDisk(id, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			sn.disks[id] = disk
			where[id] = [2]string{sn.mux.Addr().String(), sn.id}
			bn.Disks = append(bn.Disks, blobstore.DiskInfo{ID: id, FreeBytes: 1 << 40})
		}
		cm.Sites[0].Nodes = append(cm.Sites[0].Nodes, bn)
		var err error
		sn.server, err = shardnet.NewServer(sn.mux, sn.disks, shardnet.DefaultServerConfig(), testlog.New(t, slog.LevelWarn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sn.server.Close() })
		nodes = append(nodes, sn)
	}
	keys := blobtest.NewKeyWrapper()
	for _, sn := range nodes {
		client, err := shardnet.NewClient(sn.mux, shardnet.DefaultClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		cfg := blobstore.DefaultConfig()
		cfg.BlockSize, cfg.Workers, cfg.MinFreeBytes = 4096, 2, 0
		sn.store, err = blobstore.New(cfg, cm, sn.disks, remoteSource{client, where}, keys, testlog.New(t, slog.LevelWarn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sn.store.Close() })
	}
	return nodes
}

func readAll(t *testing.T, s *blobstore.Store, m blobstore.Manifest) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := s.Get(t.Context(), m, &buf, 0, m.Size)
	return buf.Bytes(), err
}

// TestStoreOverRemoteDisks: three nodes on loopback cluster ports with mutual TLS. A file
// written on one node lands two shards per node and reads back bit-exact on every node; once
// a node stops (its cluster port closed), the file still reads back bit-exact on the others
// and a new upload goes on, its shards for the stopped node counted for heal (issue 18).
func TestStoreOverRemoteDisks(t *testing.T) {
	nodes := newStoreCluster(t, 3)
	ctx := context.Background()
	data := make([]byte, 300<<10+123)
	rand.Read(data)
	m, err := nodes[0].store.Put(ctx, "f1", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Layout.String() != "3+3" {
		t.Fatalf("layout %s, want 3+3", m.Layout)
	}
	per := map[string]int{}
	for _, n := range nodes {
		for id := range n.disks {
			for _, d := range m.Shards {
				if d == id {
					per[n.id]++
				}
			}
		}
	}
	for _, n := range nodes {
		if per[n.id] != 2 {
			t.Fatalf("node %s holds %d shards of %v, want 2", n.id, per[n.id], m.Shards)
		}
		if got, err := readAll(t, n.store, m); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read on %s: %v, equal %v", n.id, err, bytes.Equal(got, data))
		}
	}

	// Node 2 stops: its shard server and cluster port close.
	nodes[2].server.Close()
	nodes[2].mux.Close()
	for _, n := range nodes[:2] {
		got, err := readAll(t, n.store, m)
		if !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data) {
			t.Fatalf("read on %s with node 2 stopped: %v, equal %v", n.id, err, bytes.Equal(got, data))
		}
	}
	data2 := data[:100<<10]
	m2, err := nodes[1].store.Put(ctx, "f2", bytes.NewReader(data2))
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || len(hn.Shards) != 2 {
		t.Fatalf("put with node 2 stopped: %v, want heal needed for its 2 shards", err)
	}
	if got, err := readAll(t, nodes[0].store, m2); !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(got, data2) {
		t.Fatalf("read of the file written with node 2 stopped: %v", err)
	}
}
