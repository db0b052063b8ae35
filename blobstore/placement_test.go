package blobstore

import (
	"fmt"
	"testing"
)

func testMap(sites, nodes, disks int) ClusterMap {
	var cm ClusterMap
	for s := range sites {
		site := Site{ID: SiteID(fmt.Sprintf("s%d", s))}
		for n := range nodes {
			node := Node{ID: NodeID(fmt.Sprintf("s%dn%d", s, n))}
			for d := range disks {
				node.Disks = append(node.Disks, DiskInfo{ID: DiskID(fmt.Sprintf("s%dn%dd%d", s, n, d)), FreeBytes: 1 << 40})
			}
			site.Nodes = append(site.Nodes, node)
		}
		cm.Sites = append(cm.Sites, site)
	}
	return cm
}

func TestAutoLayout(t *testing.T) {
	for _, tc := range []struct {
		name                string
		sites, nodes, disks int
		fd                  FailureDomain
		want                string // "" = ErrNoLayout
	}{
		{"6 disks on one node", 1, 1, 6, FailureDisk, "4+2"},
		{"1 disk", 1, 1, 1, FailureDisk, ""},
		{"2 disks", 1, 1, 2, FailureDisk, "1+1"},
		{"3 disks", 1, 1, 3, FailureDisk, "2+1"},
		{"4 disks", 1, 1, 4, FailureDisk, "2+2"},
		{"12 disks", 1, 1, 12, FailureDisk, "8+4"},
		{"one node, node domain", 1, 1, 6, FailureNode, ""},
		{"3 nodes of 2 disks", 1, 3, 2, FailureNode, "4+2"},
		{"3 nodes of 6 disks", 1, 3, 6, FailureNode, "8+4"},
		{"2 nodes of 6 disks", 1, 2, 6, FailureNode, "2+2"},
		{"3 sites of 2 nodes of 2 disks", 3, 2, 2, FailureSite, "8+4"},
		{"one site, site domain", 1, 3, 6, FailureSite, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := AutoLayout(testMap(tc.sites, tc.nodes, tc.disks), tc.fd)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %s, want ErrNoLayout", l)
				}
				return
			}
			if err != nil || l.String() != tc.want {
				t.Fatalf("got %s, %v; want %s", l, err, tc.want)
			}
		})
	}
}

func TestPlacementSpreadAndDeterminism(t *testing.T) {
	for _, tc := range []struct {
		name                string
		sites, nodes, disks int
		l                   Layout
		fd                  FailureDomain
	}{
		{"one node 4+2", 1, 1, 6, Layout{4, 2}, FailureDisk},
		{"one node 8 disks 4+2", 1, 1, 8, Layout{4, 2}, FailureDisk},
		{"3 nodes 4+2", 1, 3, 4, Layout{4, 2}, FailureNode},
		{"3 sites 8+4", 3, 2, 3, Layout{8, 4}, FailureSite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := testMap(tc.sites, tc.nodes, tc.disks)
			use := map[DiskID]int{}
			for f := range 300 {
				id := FileID(fmt.Sprintf("file-%d", f))
				a, err := place(cm, id, tc.l, 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := place(cm, id, tc.l, 0, nil)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("placement of %s not deterministic: %v vs %v", id, a, b)
				}
				seen := map[DiskID]bool{}
				var ps []placed
				for _, d := range a {
					if seen[d] {
						t.Fatalf("disk %s used twice for %s", d, id)
					}
					seen[d] = true
					use[d]++
					for _, p := range spreadOrder(cm, id, tc.fd, 0, nil) {
						if p.disk == d {
							ps = append(ps, p)
						}
					}
				}
				if got := maxPerDomain(ps, tc.fd); got > tc.l.M {
					t.Fatalf("%s: %d shards in one %s, layout %s survives %d", id, got, tc.fd, tc.l, tc.l.M)
				}
			}
			total := tc.sites * tc.nodes * tc.disks
			if len(use) != total {
				t.Fatalf("only %d of %d disks ever used", len(use), total)
			}
		})
	}
}

func TestPlacementSkipsFullAndDownDisks(t *testing.T) {
	cm := testMap(1, 1, 8)
	cm.Sites[0].Nodes[0].Disks[0].State = DiskDown
	cm.Sites[0].Nodes[0].Disks[1].FreeBytes = 10
	cm.Sites[0].Nodes[0].Disks[2].State = DiskDraining
	for f := range 50 {
		ds, err := place(cm, FileID(fmt.Sprintf("f%d", f)), Layout{4, 1}, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d == "s0n0d0" || d == "s0n0d1" || d == "s0n0d2" {
				t.Fatalf("placed on unusable disk %s", d)
			}
		}
	}
	if _, err := place(cm, "x", Layout{4, 2}, 1000, nil); err == nil {
		t.Fatal("4+2 on 5 usable disks must fail")
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct{ name, id, suffix string }{
		{shardName("a.b-c", 3, ".shard"), "a.b-c", ".shard"},
		{shardName("x", 0, ".part"), "x", ".part"},
		{stagedName("up.1", 7<<32|2), "up.1", ".stage"},
		{stagedName("up.1", 9) + ".tmp", "up.1", ".tmp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, suf, ok := parseName(tc.name)
			if !ok || string(id) != tc.id || suf != tc.suffix {
				t.Fatalf("parseName(%q) = %q %q %v", tc.name, id, suf, ok)
			}
		})
	}
	if seq, ok := stagedSeqOf(stagedName("a.b", 42)); !ok || seq != 42 {
		t.Fatalf("stagedSeqOf: %d %v", seq, ok)
	}
}
