package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/blobstore/shardnet"
	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/poll"
	"valise/internal/testlog"
	"valise/raftfsm/rafttest"
)

// TestClusterMap: the map comes from the node records and what the disks answered.
func TestClusterMap(t *testing.T) {
	rec := func(id, site, state string, disks ...diskRecord) nodeRecord {
		return nodeRecord{ID: id, Site: site, State: state, Cluster: id + ":1", Disks: disks}
	}
	disk := func(id, state string) diskRecord { return diskRecord{ID: id, State: state} }
	nodes := []nodeRecord{
		rec("a", "s1", "", disk("a1", ""), disk("a2", "failed"), disk("a0", "retired")),
		rec("b", "s1", nodeDraining, disk("b1", "")),
		rec("c", "s2", nodeActive, disk("c1", ""), disk("c2", "")),
		rec("d", "s2", nodeRemoved, disk("d1", "")),
		rec("e", "s3", nodeJoining, disk("e1", "")),
	}
	usage := map[string]diskUsage{
		"a1": {free: 5 << 30, ok: true}, "a2": {free: 1 << 30, ok: true}, "b1": {free: 1 << 30, ok: true},
		"c1": {ok: false}, "c2": {ok: false}, "d1": {free: 1, ok: true}, "e1": {free: 1, ok: true},
	}
	cm := clusterMap(nodes, "a", usage)
	got := map[string]string{}
	for _, s := range cm.Sites {
		for _, n := range s.Nodes {
			for _, d := range n.Disks {
				got[string(d.ID)] = fmt.Sprintf("%s/%s %s %d %.0f", s.ID, n.ID, d.State, d.FreeBytes, d.Weight)
			}
		}
	}
	want := map[string]string{
		"a1": "s1/a up 5368709120 5",       // up, weighted by its free GiB
		"a2": "s1/a down 0 0",              // failed while serving
		"b1": "s1/b draining 1073741824 1", // its node drains
		"c1": "s2/c down 0 0",              // its node does not answer
		"c2": "s2/c down 0 0",
	}
	if len(got) != len(want) {
		t.Fatalf("map %v, want %v (removed and joining nodes, retired disks left out)", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("disk %s: %q, want %q", id, got[id], w)
		}
	}
}

// placementNode is one node of TestPlacementAcrossNodes: its replicated metadata, its disks
// served on its cluster port, its placement and its Store.
type placementNode struct {
	id     string
	mux    *clusternet.Mux
	server *shardnet.Server
	p      *placement
	blobs  *blobstore.Store
}

// TestPlacementAcrossNodes runs three nodes' placement over a real 3-node Raft cluster and real
// cluster ports with mutual TLS: the cluster map comes from the replicated node records and the
// disks' answers over the shard transport; a file written on one node is spread two shards per
// node and reads back bit-exact on the others; a node that stops is seen down, reads and
// writes go on without it; a record changed through Raft reaches every node's map; and
// settings set's check refuses a layout that cannot survive a node (issue 18).
func TestPlacementAcrossNodes(t *testing.T) {
	ctx := context.Background()
	rc := rafttest.NewCluster(t, 3)
	ca := clustertest.NewCA(t)
	logger := testlog.New(t, slog.LevelWarn)
	keys := blobtest.NewKeyWrapper()
	var nodes []*placementNode
	var records []nodeRecord
	for i := range 3 {
		pn := &placementNode{id: fmt.Sprintf("node%d", i+1)}
		ccfg := clusternet.DefaultConfig()
		ccfg.NodeID, ccfg.Cert, ccfg.CA, ccfg.ListenAddr = pn.id, ca.NodeCert(t, pn.id), ca.Pool(), "127.0.0.1:0"
		var err error
		if pn.mux, err = clusternet.Listen(ccfg, logger); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pn.mux.Close() })
		disks := map[blobstore.DiskID]blobstore.Disk{}
		rec := nodeRecord{ID: pn.id, Site: "site1", Cluster: pn.mux.Addr().String(), State: nodeActive}
		for d := range 2 {
			id := diskID(pn.id, d)
			if disks[blobstore.DiskID(id)], err = blobstore.NewDirDisk(blobstore.DiskID(id), t.TempDir()); err != nil {
				t.Fatal(err)
			}
			rec.Disks = append(rec.Disks, diskRecord{ID: id, Path: "/unused"})
		}
		if pn.server, err = shardnet.NewServer(pn.mux, disks, shardnet.DefaultServerConfig(), logger); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pn.server.Close() })
		client, err := shardnet.NewClient(pn.mux, shardnet.DefaultClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		pn.p = &placement{self: pn.id, store: rc.Store(i), local: disks, client: client,
			layout: func() string { return "auto" }, logger: logger}
		records = append(records, rec)
		nodes = append(nodes, pn)
	}
	putRecord := func(r nodeRecord) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		rc.ProposeLeader(t, rafttest.Put(prefixNodes+r.ID, string(b)))
	}
	for _, r := range records {
		putRecord(r)
	}
	for i, pn := range nodes {
		poll.UntilNil(t, "the node records replicated", func() error {
			rs, err := nodeRecords(rc.Store(i))
			if err != nil || len(rs) != 3 {
				return fmt.Errorf("%d records, %v", len(rs), err)
			}
			return nil
		})
		if err := pn.p.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		cfg := blobstore.DefaultConfig()
		cfg.BlockSize, cfg.Workers, cfg.MinFreeBytes = 4096, 2, 0
		var err error
		if pn.blobs, err = blobstore.New(cfg, pn.p.cmap, pn.p.local, pn.p, keys, logger); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pn.blobs.Close() })
		pn.p.start(pn.blobs)
		t.Cleanup(func() { pn.p.close() })
	}

	plan, err := nodes[0].p.plan()
	if err != nil || plan.Layout.String() != "3+3" || plan.Domain != blobstore.FailureNode || !plan.WritesSurvive {
		t.Fatalf("plan %+v, %v; want 3+3 across nodes, writes surviving one", plan, err)
	}
	if err := nodes[0].p.check("5+1"); err == nil || !strings.Contains(err.Error(), "would put 2 shards of a stripe in one of the 3 nodes") {
		t.Fatalf("check 5+1 on 3 nodes of 2 disks = %v, want the reason it is refused", err)
	}
	if err := nodes[0].p.check("4+2"); err != nil {
		t.Fatalf("check 4+2 = %v", err)
	}

	data := make([]byte, 200<<10+77)
	rand.Read(data)
	m, err := nodes[0].blobs.Put(ctx, "f1", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range nodes {
		n := 0
		for _, d := range m.Shards {
			if _, ok := pn.p.local[d]; ok {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("node %s holds %d shards of %v, want 2", pn.id, n, m.Shards)
		}
		var buf bytes.Buffer
		if err := pn.blobs.Get(ctx, m, &buf, 0, m.Size); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("read on %s: %v", pn.id, err)
		}
	}

	// node3 stops serving its disks: the others see it down at their next refresh, skip its
	// disks at once, read without it and go on writing.
	nodes[2].server.Close()
	nodes[2].mux.Close()
	for _, pn := range nodes[:2] {
		if err := pn.p.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		pn.p.apply()
		if _, err := pn.p.Disk(blobstore.DiskID(diskID("node3", 0))); !errors.Is(err, blobstore.ErrDiskUnavailable) {
			t.Fatalf("disk of the stopped node from %s: %v", pn.id, err)
		}
		var buf bytes.Buffer
		if err := pn.blobs.Get(ctx, m, &buf, 0, m.Size); !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("read on %s with node3 stopped: %v", pn.id, err)
		}
	}
	m2, err := nodes[1].blobs.Put(ctx, "f2", bytes.NewReader(data[:50<<10]))
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || len(hn.Shards) != 2 {
		t.Fatalf("put with node3 down: %v, want heal needed for its 2 shards", err)
	}
	var buf bytes.Buffer
	if err := nodes[0].blobs.Get(ctx, m2, &buf, 0, m2.Size); !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(buf.Bytes(), data[:50<<10]) {
		t.Fatalf("read of the file written with node3 down: %v", err)
	}

	// A record changed through Raft reaches the maps without a call: node2 drains.
	records[1].State = nodeDraining
	putRecord(records[1])
	poll.UntilNil(t, "node2's disks draining in node1's map", func() error {
		nodes[0].p.mu.Lock()
		cm := nodes[0].p.cmap
		nodes[0].p.mu.Unlock()
		for _, s := range cm.Sites {
			for _, n := range s.Nodes {
				if n.ID == "node2" && len(n.Disks) > 0 && n.Disks[0].State != blobstore.DiskDraining {
					return fmt.Errorf("node2's disk %s", n.Disks[0].State)
				}
			}
		}
		return nil
	})
}

// TestPlacementSilentNodeAnswers: a node whose disks did not answer (its shard server not yet
// listening, as while it starts after joining) is asked again by the refresh loop on its own,
// without waiting for a record change or the usage refresh, so that its disks take new shards
// as soon as it serves (issue 18: an upload placed 3 s after a node joined skipped its
// shards, and the leader's death then left too few of them to resume the upload).
func TestPlacementSilentNodeAnswers(t *testing.T) {
	ctx := context.Background()
	store := rafttest.NewStore(t)
	ca := clustertest.NewCA(t)
	logger := testlog.New(t, slog.LevelWarn)
	var muxes []*clusternet.Mux
	var disks []map[blobstore.DiskID]blobstore.Disk
	for i := range 2 {
		id := fmt.Sprintf("node%d", i+1)
		ccfg := clusternet.DefaultConfig()
		ccfg.NodeID, ccfg.Cert, ccfg.CA, ccfg.ListenAddr = id, ca.NodeCert(t, id), ca.Pool(), "127.0.0.1:0"
		mux, err := clusternet.Listen(ccfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mux.Close() })
		rec := nodeRecord{ID: id, Site: "site1", Cluster: mux.Addr().String(), State: nodeActive}
		ds := map[blobstore.DiskID]blobstore.Disk{}
		for d := range 2 {
			did := diskID(id, d)
			if ds[blobstore.DiskID(did)], err = blobstore.NewDirDisk(blobstore.DiskID(did), t.TempDir()); err != nil {
				t.Fatal(err)
			}
			rec.Disks = append(rec.Disks, diskRecord{ID: did, Path: "/unused"})
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Propose(ctx, rafttest.Put(prefixNodes+id, string(b))); err != nil {
			t.Fatal(err)
		}
		muxes, disks = append(muxes, mux), append(disks, ds)
	}
	client, err := shardnet.NewClient(muxes[0], shardnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The usage refresh never comes within the test: only the silent node's check can see it.
	p := &placement{self: "node1", store: store, local: disks[0], client: client,
		layout: func() string { return "auto" }, logger: logger, usageEvery: time.Hour}
	if err := p.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	node2Up := func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, s := range p.cmap.Sites {
			for _, n := range s.Nodes {
				for _, d := range n.Disks {
					if n.ID == "node2" && d.State != blobstore.DiskUp {
						return fmt.Errorf("node2's disk %s is %v", d.ID, d.State)
					}
				}
			}
		}
		return nil
	}
	if node2Up() == nil {
		t.Fatal("node2's disks are up before its shard server listens")
	}
	cfg := blobstore.DefaultConfig()
	cfg.BlockSize, cfg.Workers, cfg.MinFreeBytes = 4096, 2, 0
	blobs, err := blobstore.New(cfg, p.cmap, p.local, p, blobtest.NewKeyWrapper(), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	p.start(blobs)
	t.Cleanup(func() { p.close() })

	server, err := shardnet.NewServer(muxes[1], disks[1], shardnet.DefaultServerConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	poll.UntilNil(t, "node2's disks up in node1's map, no record changed", node2Up)
	if _, err := p.Disk(blobstore.DiskID(diskID("node2", 0))); err != nil {
		t.Fatalf("node2's disk from node1: %v", err)
	}
}
