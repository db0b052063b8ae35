package blobstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// shape builds a cluster map: per site, per node, its number of disks.
func shape(sites ...[]int) ClusterMap {
	var cm ClusterMap
	for s, nodes := range sites {
		site := Site{ID: SiteID(fmt.Sprintf("s%d", s))}
		for n, disks := range nodes {
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

// setNode changes every disk of a node.
func setNode(cm ClusterMap, site, node int, f func(*DiskInfo)) ClusterMap {
	for i := range cm.Sites[site].Nodes[node].Disks {
		f(&cm.Sites[site].Nodes[node].Disks[i])
	}
	return cm
}

// TestPlanLayout: the automatic layout survives the failure domain of the map, with writes
// going on when the cluster is big enough (issue 18).
func TestPlanLayout(t *testing.T) {
	const minFree = 1 << 20
	for _, tc := range []struct {
		name   string
		cm     ClusterMap
		fd     FailureDomain
		want   string // "" = ErrNoLayout
		domain FailureDomain
		per    int
		writes bool
	}{
		{"1 node 6 disks", shape([]int{6}), FailureAuto, "4+2", FailureDisk, 1, true},
		{"1 node 1 disk", shape([]int{1}), FailureAuto, "", FailureDisk, 0, false},
		{"1 node 2 disks", shape([]int{2}), FailureAuto, "1+1", FailureDisk, 1, false},
		{"1 node 3 disks", shape([]int{3}), FailureAuto, "2+1", FailureDisk, 1, false},
		{"1 node 4 disks", shape([]int{4}), FailureAuto, "2+2", FailureDisk, 1, true},
		{"1 node 8 disks", shape([]int{8}), FailureAuto, "6+2", FailureDisk, 1, true},
		{"1 node 12 disks", shape([]int{12}), FailureAuto, "8+4", FailureDisk, 1, true},
		{"one node, node domain", shape([]int{6}), FailureNode, "", FailureNode, 0, false},
		{"3 nodes x 1 disk", shape([]int{1, 1, 1}), FailureAuto, "2+1", FailureNode, 1, false},
		{"3 nodes x 2 disks", shape([]int{2, 2, 2}), FailureAuto, "3+3", FailureNode, 2, true},
		{"3 nodes x 6 disks", shape([]int{6, 6, 6}), FailureAuto, "7+5", FailureNode, 4, true},
		{"4 nodes x 3 disks", shape([]int{3, 3, 3, 3}), FailureAuto, "8+4", FailureNode, 3, true},
		{"2 nodes x 6 disks, auto: disk", shape([]int{6, 6}), FailureAuto, "8+4", FailureDisk, 1, true},
		{"2 nodes x 6 disks, node domain", shape([]int{6, 6}), FailureNode, "4+4", FailureNode, 4, false},
		{"3 sites x 2 nodes", shape([]int{1, 1}, []int{1, 1}, []int{1, 1}), FailureAuto, "3+3", FailureSite, 2, true},
		{"3 sites x 2 nodes x 2 disks", shape([]int{2, 2}, []int{2, 2}, []int{2, 2}), FailureAuto, "7+5", FailureSite, 4, true},
		{"2 sites x 2 nodes x 2 disks", shape([]int{2, 2}, []int{2, 2}), FailureAuto, "4+4", FailureNode, 2, true},
		{"2 sites x 1 node x 3 disks", shape([]int{3}, []int{3}), FailureAuto, "4+2", FailureDisk, 1, true},
		{"2 sites, site domain", shape([]int{3}, []int{3}), FailureSite, "3+3", FailureSite, 3, false},
		{"uneven nodes 4/1/1", shape([]int{4, 1, 1}), FailureAuto, "2+2", FailureNode, 2, false},
		{"a full disk excluded", func() ClusterMap {
			cm := shape([]int{6})
			cm.Sites[0].Nodes[0].Disks[2].FreeBytes = minFree - 1
			return cm
		}(), FailureAuto, "3+2", FailureDisk, 1, true},
		{"a draining node excluded", setNode(shape([]int{2, 2, 2}), 0, 2, func(d *DiskInfo) { d.State = DiskDraining }),
			FailureAuto, "2+2", FailureDisk, 1, true},
		{"a down node still counts", setNode(shape([]int{2, 2, 2}), 0, 1, func(d *DiskInfo) { d.State = DiskDown; d.FreeBytes = 0 }),
			FailureAuto, "3+3", FailureNode, 2, true},
		{"a failed disk does not", func() ClusterMap {
			cm := shape([]int{6})
			cm.Sites[0].Nodes[0].Disks[0].State = DiskDown
			cm.Sites[0].Nodes[0].Disks[1].State = DiskDown
			return cm
		}(), FailureAuto, "2+2", FailureDisk, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanLayout(tc.cm, "auto", tc.fd, minFree)
			if tc.want == "" {
				if !errors.Is(err, ErrNoLayout) {
					t.Fatalf("got %s, %v; want ErrNoLayout", p.Layout, err)
				}
				return
			}
			if err != nil || p.Layout.String() != tc.want {
				t.Fatalf("got %s, %v; want %s", p.Layout, err, tc.want)
			}
			if p.Domain != tc.domain || p.PerDomain != tc.per || p.WritesSurvive != tc.writes || !p.ReadsSurvive || !p.Auto {
				t.Fatalf("plan %+v; want domain %s, %d per domain, writes survive %v", p, tc.domain, tc.per, tc.writes)
			}
			t.Log(p)
		})
	}
}

// TestPlanLayoutExplicit: an explicit layout that cannot survive the failure domain is
// refused with a sentence saying why.
func TestPlanLayoutExplicit(t *testing.T) {
	for _, tc := range []struct {
		name, layout string
		cm           ClusterMap
		fd           FailureDomain
		refused      string // a part of the sentence; "" = accepted
		writes       bool
	}{
		{"4+2 on one node", "4+2", shape([]int{6}), FailureAuto, "", true},
		{"4+2 on 3 nodes: reads only", "4+2", shape([]int{2, 2, 2}), FailureAuto, "", false},
		{"3+3 on 3 sites", "3+3", shape([]int{1, 1}, []int{1, 1}, []int{1, 1}), FailureAuto, "", true},
		{"5+1 on 3 nodes", "5+1", shape([]int{2, 2, 2}), FailureAuto, "would put 2 shards of a stripe in one of the 3 nodes", false},
		{"4+2 on 2 sites, site domain", "4+2", shape([]int{3}, []int{3}), FailureSite, "losing that site would lose more than its 2 parity shards", false},
		{"8+4 on 6 disks", "8+4", shape([]int{2, 2, 2}), FailureAuto, "needs 12 disks, the cluster has 6 usable", false},
		{"no parity on 4 disks", "4+0", shape([]int{4}), FailureAuto, "would put 1 shards", false},
		{"1+0 on one disk", "1+0", shape([]int{1}), FailureAuto, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanLayout(tc.cm, tc.layout, tc.fd, 0)
			if tc.refused != "" {
				if !errors.Is(err, ErrNoLayout) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("got %v; want ErrNoLayout saying %q", err, tc.refused)
				}
				return
			}
			if err != nil || p.Layout.String() != tc.layout || p.WritesSurvive != tc.writes || p.Auto {
				t.Fatalf("got %+v, %v; want %s, writes survive %v", p, err, tc.layout, tc.writes)
			}
		})
	}
	if _, err := PlanLayout(shape([]int{6}), "four", FailureAuto, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("malformed layout: %v", err)
	}
}

// TestPlacementSpread: every file's shards spread so that no failure domain holds more than the
// plan says, on distinct disks, deterministically, and every disk gets some.
func TestPlacementSpread(t *testing.T) {
	for _, tc := range []struct {
		name string
		cm   ClusterMap
		l    Layout
	}{
		{"one node 4+2", shape([]int{6}), Layout{4, 2}},
		{"one node 8 disks 4+2", shape([]int{8}), Layout{4, 2}},
		{"3 nodes 3+3", shape([]int{2, 2, 2}), Layout{3, 3}},
		{"3 nodes of 4 disks 4+2", shape([]int{4, 4, 4}), Layout{4, 2}},
		{"uneven nodes 2+2", shape([]int{4, 1, 1}), Layout{2, 2}},
		{"3 sites 3+3", shape([]int{1, 1}, []int{1, 1}, []int{1, 1}), Layout{3, 3}},
		{"3 sites 7+5", shape([]int{2, 2}, []int{2, 2}, []int{2, 2}), Layout{7, 5}},
		{"2 sites 4+4", shape([]int{2, 2}, []int{2, 2}), Layout{4, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanLayout(tc.cm, tc.l.String(), FailureAuto, 0)
			if err != nil {
				t.Fatal(err)
			}
			all := members(tc.cm, 0, nil)
			byDisk := map[DiskID]placed{}
			for _, p := range all {
				byDisk[p.disk] = p
			}
			use := map[DiskID]int{}
			for f := range 300 {
				id := FileID(fmt.Sprintf("file-%d", f))
				a, down, err := place(tc.cm, id, tc.l, FailureAuto, 0)
				if err != nil {
					t.Fatal(err)
				}
				b, _, _ := place(tc.cm, id, tc.l, FailureAuto, 0)
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("placement of %s not deterministic: %v vs %v", id, a, b)
				}
				var ps []placed
				seen := map[DiskID]bool{}
				for i, d := range a {
					if seen[d] || down[i] {
						t.Fatalf("%s: disk %s used twice or down: %v", id, d, a)
					}
					seen[d] = true
					use[d]++
					ps = append(ps, byDisk[d])
				}
				for _, fd := range []FailureDomain{FailureDisk, FailureNode, FailureSite} {
					if fd == plan.Domain || fd < plan.Domain {
						if got := maxPerDomain(ps, fd); got > plan.PerDomain {
							t.Fatalf("%s: %d shards in one %s, the plan says %d", id, got, fd, plan.PerDomain)
						}
					}
				}
			}
			if len(use) != len(all) {
				t.Fatalf("only %d of %d disks ever used", len(use), len(all))
			}
		})
	}
}

// TestPlacementWeights: a disk with less free space (a smaller weight) gets fewer new shards.
func TestPlacementWeights(t *testing.T) {
	cm := shape([]int{8})
	for i := range cm.Sites[0].Nodes[0].Disks {
		cm.Sites[0].Nodes[0].Disks[i].Weight = 10
	}
	cm.Sites[0].Nodes[0].Disks[0].Weight = 1
	use := map[DiskID]int{}
	for f := range 2000 {
		ds, _, err := place(cm, FileID(fmt.Sprintf("f%d", f)), Layout{4, 2}, FailureAuto, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			use[d]++
		}
	}
	if small, big := use["s0n0d0"], use["s0n0d1"]; small*2 > big {
		t.Fatalf("a disk of weight 1 got %d shards, one of weight 10 %d", small, big)
	}
}

// TestPlacementDownAndFull: full, draining and failed disks take nothing; the disks of a node
// that is away take shards only to keep the spread (they fail at once, left for heal), and only
// while the write quorum is up.
func TestPlacementDownAndFull(t *testing.T) {
	cm := shape([]int{8})
	disks := cm.Sites[0].Nodes[0].Disks
	disks[0].State = DiskDown
	disks[1].FreeBytes = 10
	disks[2].State = DiskDraining
	for f := range 50 {
		ds, down, err := place(cm, FileID(fmt.Sprintf("f%d", f)), Layout{4, 1}, FailureAuto, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if d == "s0n0d0" || d == "s0n0d1" || d == "s0n0d2" || down[i] {
				t.Fatalf("placed on unusable disk %s", d)
			}
		}
	}
	// A disk down on a node that is up failed: it does not count, 4+2 does not fit in 5.
	if _, _, err := place(cm, "x", Layout{4, 2}, FailureAuto, 1000); !errors.Is(err, ErrNoLayout) {
		t.Fatalf("4+2 on 5 usable disks: %v", err)
	}
	// 3 nodes x 2 disks, 3+3, a node down: its two shards are placed there and fail, 4 are up.
	cm = setNode(shape([]int{2, 2, 2}), 0, 2, func(d *DiskInfo) { d.State = DiskDown })
	for f := range 50 {
		ds, down, err := place(cm, FileID(fmt.Sprintf("f%d", f)), Layout{3, 3}, FailureAuto, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, d := range ds {
			if down[i] != strings.HasPrefix(string(d), "s0n2") {
				t.Fatalf("%v %v", ds, down)
			}
			if down[i] {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("%d shards on the down node, want 2: %v", n, ds)
		}
	}
	// Two nodes down: 2 up < quorum 4.
	cm = setNode(cm, 0, 1, func(d *DiskInfo) { d.State = DiskDown })
	if _, _, err := place(cm, "y", Layout{3, 3}, FailureAuto, 0); !errors.Is(err, ErrNoLayout) {
		t.Fatalf("3+3 with 2 of 6 disks up: %v", err)
	}
}

// TestHealDisk: a rebuilt shard goes to an up disk of the failure domain holding the fewest of
// the file's other shards.
func TestHealDisk(t *testing.T) {
	cm := shape([]int{3, 3, 3})
	// 3+3 on s0n0d0 s0n0d1 s0n1d0 s0n1d1 s0n2d0 s0n2d1: shard 5's disk failed.
	shards := []DiskID{"s0n0d0", "s0n0d1", "s0n1d0", "s0n1d1", "s0n2d0", "s0n2d1"}
	cm.Sites[0].Nodes[2].Disks[1].State = DiskDown
	for f := range 20 {
		d, err := healDisk(cm, FileID(fmt.Sprintf("f%d", f)), shards, 5, Layout{3, 3}, FailureAuto, 0, nil)
		if err != nil || d != "s0n2d2" {
			t.Fatalf("heal target %s %v, want s0n2d2 (same node, the only one with 1 shard left)", d, err)
		}
	}
	if d, err := healDisk(cm, "f", shards, 5, Layout{3, 3}, FailureAuto, 0, map[DiskID]bool{"s0n2d2": true}); err != nil || d == "s0n2d2" || slices.Contains(shards, d) {
		t.Fatalf("with s0n2d2 avoided: %s %v", d, err)
	}
}

// TestHealDiskNoFreeDisk: when every usable disk holds a shard of the file, the rebuilt shard
// goes beside another one, in a failure domain that stays within m shards of the file, the
// one holding the fewest; when every candidate would put more than m in a domain, heal is
// refused with a sentence saying so (issue 18).
func TestHealDiskNoFreeDisk(t *testing.T) {
	down := func(cm ClusterMap, ids ...DiskID) ClusterMap {
		for s := range cm.Sites {
			for n := range cm.Sites[s].Nodes {
				for d := range cm.Sites[s].Nodes[n].Disks {
					if slices.Contains(ids, cm.Sites[s].Nodes[n].Disks[d].ID) {
						cm.Sites[s].Nodes[n].Disks[d].State = DiskDown
					}
				}
			}
		}
		return cm
	}
	for _, tc := range []struct {
		name   string
		cm     ClusterMap
		layout Layout
		fd     FailureDomain
		shards []DiskID
		lost   int
		avoid  []DiskID
		want   []DiskID // any of these; nil: refused
		errHas string
	}{{
		// The clustertest shape: 3 sites × 1 node × 2 disks, 3+3, one disk gone: its site's
		// other disk (2 shards of the site, ≤ 3), not a disk of a site holding 2 already.
		name: "three sites, one disk lost", cm: down(shape([]int{2}, []int{2}, []int{2}), "s1n0d0"),
		layout: Layout{3, 3}, fd: FailureAuto,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s1n0d0", "s1n0d1", "s2n0d0", "s2n0d1"}, lost: 2,
		want: []DiskID{"s1n0d1"},
	}, {
		// The lost disk's own site cannot take it (its other disk is avoided: failing too):
		// a site then holds 3 = m.
		name: "three sites, the site's other disk avoided", cm: down(shape([]int{2}, []int{2}, []int{2}), "s1n0d0"),
		layout: Layout{3, 3}, fd: FailureAuto,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s1n0d0", "s1n0d1", "s2n0d0", "s2n0d1"}, lost: 2,
		avoid: []DiskID{"s1n0d1"},
		want:  []DiskID{"s0n0d0", "s0n0d1", "s2n0d0", "s2n0d1"},
	}, {
		// A free disk exists: it comes first, even in a domain holding more shards.
		name: "free disk first", cm: down(shape([]int{2}, []int{2}, []int{3}), "s1n0d0"),
		layout: Layout{3, 3}, fd: FailureAuto,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s1n0d0", "s1n0d1", "s2n0d0", "s2n0d1"}, lost: 2,
		want: []DiskID{"s2n0d2"},
	}, {
		// Disk domain, 4+2 on six disks of one node, one lost: any other disk (2 ≤ m).
		name: "disk domain, no free disk", cm: down(shape([]int{6}), "s0n0d3"),
		layout: Layout{4, 2}, fd: FailureDisk,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s0n0d2", "s0n0d3", "s0n0d4", "s0n0d5"}, lost: 3,
		want: []DiskID{"s0n0d0", "s0n0d1", "s0n0d2", "s0n0d4", "s0n0d5"},
	}, {
		// 4+1 over disks: one more shard on any disk makes 2 > m = 1.
		name: "m=1, every disk holds a shard: refused", cm: down(shape([]int{5}), "s0n0d0"),
		layout: Layout{4, 1}, fd: FailureDisk,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s0n0d2", "s0n0d3", "s0n0d4"}, lost: 0,
		errHas: "one more there would lose the file",
	}, {
		// Node domain, 2+1 on three nodes of one disk each: the only candidates are the two
		// other nodes, each holding 1 = m.
		name: "node domain, only candidates break m: refused", cm: down(shape([]int{1, 1, 1}), "s0n2d0"),
		layout: Layout{2, 1}, fd: FailureNode,
		shards: []DiskID{"s0n0d0", "s0n1d0", "s0n2d0"}, lost: 2,
		errHas: "already holding 1 shards of layout 2+1",
	}, {
		// Site domain, 3+3 with sites holding 3, 2, 1 and the lost shard in the site of 2:
		// the site of 3 is refused, the site of 1 has no free disk but stays within m.
		name: "site domain, fullest site refused", cm: down(shape([]int{3}, []int{2}, []int{1}), "s1n0d1"),
		layout: Layout{3, 3}, fd: FailureSite,
		shards: []DiskID{"s0n0d0", "s0n0d1", "s0n0d2", "s1n0d0", "s1n0d1", "s2n0d0"}, lost: 4,
		avoid: []DiskID{"s1n0d0"},
		want:  []DiskID{"s2n0d0"},
	}, {
		name: "no other up disk", cm: down(shape([]int{1, 1}), "s0n1d0", "s0n0d0"),
		layout: Layout{1, 1}, fd: FailureDisk,
		shards: []DiskID{"s0n0d0", "s0n1d0"}, lost: 1,
		errHas: "no other up disk",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			avoid := map[DiskID]bool{}
			for _, d := range tc.avoid {
				avoid[d] = true
			}
			for f := range 10 {
				d, err := healDisk(tc.cm, FileID(fmt.Sprintf("f%d", f)), tc.shards, tc.lost, tc.layout, tc.fd, 0, avoid)
				if tc.want == nil {
					if !errors.Is(err, ErrNoLayout) || !strings.Contains(err.Error(), tc.errHas) {
						t.Fatalf("target %s, err %v: want a refusal saying %q", d, err, tc.errHas)
					}
					continue
				}
				if err != nil || !slices.Contains(tc.want, d) {
					t.Fatalf("target %s, err %v: want one of %v", d, err, tc.want)
				}
			}
		})
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
