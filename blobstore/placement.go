package blobstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// LocalClusterMap builds a one-site, one-node ClusterMap of the given disks, with their free
// space from Disk.Usage (a disk whose Usage fails is marked down).
func LocalClusterMap(ctx context.Context, site SiteID, node NodeID, disks map[DiskID]Disk) ClusterMap {
	n := Node{ID: node}
	for id, d := range disks {
		info := DiskInfo{ID: id, Weight: 1, State: DiskUp}
		if _, free, err := d.Usage(ctx); err != nil {
			info.State = DiskDown
		} else {
			info.FreeBytes = free
		}
		n.Disks = append(n.Disks, info)
	}
	slices.SortFunc(n.Disks, func(a, b DiskInfo) int { return cmp.Compare(a.ID, b.ID) })
	return ClusterMap{Sites: []Site{{ID: site, Nodes: []Node{n}}}}
}

// disk returns the map's entry for a disk.
func (cm ClusterMap) disk(id DiskID) (DiskInfo, bool) {
	for _, s := range cm.Sites {
		for _, n := range s.Nodes {
			for _, d := range n.Disks {
				if d.ID == id {
					return d, true
				}
			}
		}
	}
	return DiskInfo{}, false
}

// autoCandidates are the layouts AutoLayout tries, in order of preference. The first whose
// spread survives the loss of one failure domain with writes going on is taken; when none
// does, the first that keeps every file readable. Layouts with more parity than data are never
// chosen automatically (they cost more than a mirror pair); 7+5, 5+4, 4+4 and 3+3 are there
// for three failure domains, where a write quorum survives a lost domain only with a third of
// the shards or more as parity.
var autoCandidates = [...]Layout{
	{8, 4}, {7, 5}, {8, 2}, {7, 2}, {6, 2}, {5, 4}, {4, 4}, {5, 2}, {4, 2}, {3, 3}, {3, 2}, {2, 2},
	{4, 1}, {3, 1}, {2, 1}, {1, 1},
}

// LayoutPlan is a layout resolved against a cluster map: what new files get and what their
// spread survives. Store.Plan and PlanLayout return it, for status.
type LayoutPlan struct {
	// Layout is the layout new files get.
	Layout Layout
	// Auto says it was chosen by AutoLayout ("auto"), not set explicitly.
	Auto bool
	// Domain is the failure domain the spread survives the loss of (FailureAuto resolved).
	Domain FailureDomain
	// Domains is the number of failure domains holding usable disks.
	Domains int
	// PerDomain is the most shards of one stripe placed in a single domain.
	PerDomain int
	// ReadsSurvive says that every file stays readable after the loss of one domain (at most
	// m shards in it). Only an explicit layout on a cluster of one domain (a node with one
	// disk, "1+0") survives nothing.
	ReadsSurvive bool
	// WritesSurvive says that writes go on after the loss of one domain: the shards left are
	// at least the write quorum. When false, only reads survive it (files stay readable;
	// uploads fail until the domain is back).
	WritesSurvive bool
}

// String says it in a sentence, e.g. "3+3 over 3 nodes, at most 2 shards per node: losing
// a node keeps every file readable and writable".
func (p LayoutPlan) String() string {
	if !p.ReadsSurvive {
		return fmt.Sprintf("%s over %d %s: losing it loses the files", p.Layout, p.Domains, p.Domain)
	}
	shards := "shards"
	if p.PerDomain == 1 {
		shards = "shard"
	}
	s := fmt.Sprintf("%s over %d %ss, at most %d %s per %s: losing a %s keeps every file readable",
		p.Layout, p.Domains, p.Domain, p.PerDomain, shards, p.Domain, p.Domain)
	if p.WritesSurvive {
		return s + " and writable"
	}
	return s + ", but uploads stop until it is back (too few disks left for a write quorum)"
}

// PlanLayout resolves layout ("auto" or "k+m") and fd (FailureAuto: from the map) against the
// cluster map, counting the disks that are up with at least minFree bytes free, and those of a
// node whose disks are all down (a node away for a while still counts: its shards are rebuilt
// when it returns; a single failed disk does not). An explicit
// layout that the map cannot place, or whose spread puts more than m shards in one failure
// domain, is refused with an error wrapping ErrNoLayout whose text says why, in a sentence
// fit for an operator; so is "auto" on a map too small to survive the loss of one domain.
func PlanLayout(cm ClusterMap, layout string, fd FailureDomain, minFree uint64) (LayoutPlan, error) {
	ms := members(cm, minFree, nil)
	fd = resolveDomain(ms, fd)
	p := LayoutPlan{Domain: fd, Domains: countDomains(ms, fd)}
	if layout == "auto" {
		p.Auto = true
		var readsOnly *LayoutPlan
		for _, l := range autoCandidates {
			q, ok := survives(ms, l, fd, p)
			if !ok {
				continue
			}
			if q.WritesSurvive && l.K >= l.M {
				return q, nil
			}
			if readsOnly == nil {
				readsOnly = &q
			}
		}
		if readsOnly != nil {
			return *readsOnly, nil
		}
		return p, fmt.Errorf("%w: %d usable disks in %d %ss: no layout keeps files readable after losing a %s (at least two %ss with disks are needed)",
			ErrNoLayout, len(ms), p.Domains, fd, fd, fd)
	}
	l, err := ParseLayout(layout)
	if err != nil {
		return p, err
	}
	if n := l.K + l.M; len(ms) < n {
		return p, fmt.Errorf("%w: layout %s needs %d disks, the cluster has %d usable", ErrNoLayout, l, n, len(ms))
	}
	q, ok := survives(ms, l, fd, p)
	if !ok && q.Domains < 2 {
		// One domain: nothing can survive its loss, and the operator asked for this layout.
		return q, nil
	}
	if !ok {
		return q, fmt.Errorf("%w: layout %s would put %d shards of a stripe in one of the %d %ss: losing that %s would lose more than its %d parity shards; "+
			"use auto, or a layout with more parity or fewer shards", ErrNoLayout, l, q.PerDomain, q.Domains, fd, fd, l.M)
	}
	return q, nil
}

// survives fills p for layout l spread over ms and reports whether losing the fullest domain
// leaves every stripe readable (at most m shards in it).
func survives(ms []placed, l Layout, fd FailureDomain, p LayoutPlan) (LayoutPlan, bool) {
	p.Layout = l
	n := l.K + l.M
	if len(ms) < n {
		return p, false
	}
	p.PerDomain = maxPerDomain(spread(ms, "", n, fd), fd)
	p.ReadsSurvive = p.PerDomain <= l.M && p.Domains >= 2
	p.WritesSurvive = p.ReadsSurvive && n-p.PerDomain >= writeQuorum(l)
	return p, p.ReadsSurvive
}

func autoLayout(cm ClusterMap, fd FailureDomain, minFree uint64) (Layout, error) {
	p, err := PlanLayout(cm, "auto", fd, minFree)
	return p.Layout, err
}

// placed is a disk of the map that placement may use, with its domains.
type placed struct {
	disk   DiskID
	node   NodeID
	site   SiteID
	down   bool    // its node is away: counted for the layout and spread, nothing written there now
	weight float64 // > 0
}

// members lists the disks that count for layouts and placement: those up with at least
// minFree bytes free, and those of a node whose disks are all down (a node away for a while: a
// file placed there gets its shard when heal runs after the node returns). A disk down on a
// node that is up (failed: gone until replaced), draining disks, full ones and the excluded
// ones are left out.
func members(cm ClusterMap, minFree uint64, exclude map[DiskID]bool) []placed {
	var out []placed
	for _, s := range cm.Sites {
		for _, n := range s.Nodes {
			away := len(n.Disks) > 0
			for _, d := range n.Disks {
				away = away && d.State == DiskDown
			}
			for _, d := range n.Disks {
				if exclude[d.ID] || d.State == DiskDraining || d.State == DiskUp && d.FreeBytes < minFree || d.State == DiskDown && !away {
					continue
				}
				w := d.Weight
				if w <= 0 {
					w = 1
				}
				out = append(out, placed{disk: d.ID, node: n.ID, site: s.ID, down: d.State == DiskDown, weight: w})
			}
		}
	}
	return out
}

// resolveDomain turns FailureAuto into site with 3 sites or more, node with 3 nodes or more,
// else disk.
func resolveDomain(ms []placed, fd FailureDomain) FailureDomain {
	if fd != FailureAuto {
		return fd
	}
	switch {
	case countDomains(ms, FailureSite) >= 3:
		return FailureSite
	case countDomains(ms, FailureNode) >= 3:
		return FailureNode
	}
	return FailureDisk
}

func domainKey(p placed, fd FailureDomain) string {
	switch fd {
	case FailureSite:
		return string(p.site)
	case FailureNode:
		return string(p.site) + "\x00" + string(p.node)
	}
	return string(p.disk)
}

func countDomains(ms []placed, fd FailureDomain) int {
	seen := map[string]bool{}
	for _, p := range ms {
		seen[domainKey(p, fd)] = true
	}
	return len(seen)
}

func maxPerDomain(ps []placed, fd FailureDomain) int {
	count := map[string]int{}
	best := 0
	for _, p := range ps {
		k := domainKey(p, fd)
		count[k]++
		best = max(best, count[k])
	}
	return best
}

// spreadCounts counts the shards already placed per disk, failure domain, site and node.
type spreadCounts struct {
	domain, site, node map[string]int
	disk               map[DiskID]int
}

func newSpreadCounts() spreadCounts {
	return spreadCounts{domain: map[string]int{}, site: map[string]int{}, node: map[string]int{}, disk: map[DiskID]int{}}
}

func (c spreadCounts) add(p placed, fd FailureDomain) {
	c.disk[p.disk]++
	c.domain[domainKey(p, fd)]++
	c.site[string(p.site)]++
	c.node[domainKey(p, FailureNode)]++
}

// spread picks n of the candidates ms for file id, one at a time: each time the disk holding
// the fewest shards so far (none, but for heal: see healDisk), then the one whose
// failure domain holds the fewest shards so far (water-filling: the fullest domain ends with
// as few shards as the disks allow), then an up disk before a down one, then the site and the
// node with the fewest, then the highest weighted rendezvous score of the file ID, so that the
// same map and ID always give the same disks and each disk gets new shards in proportion to
// its weight. It returns fewer than n when ms is shorter.
func spread(ms []placed, id FileID, n int, fd FailureDomain) []placed {
	return spreadFrom(ms, id, n, fd, newSpreadCounts())
}

func spreadFrom(ms []placed, id FileID, n int, fd FailureDomain, c spreadCounts) []placed {
	score := make([]float64, len(ms))
	for i, p := range ms {
		score[i] = rendezvous(id, "d", string(p.disk), p.weight)
	}
	used := make([]bool, len(ms))
	var out []placed
	for len(out) < n {
		best := -1
		var bk [6]float64
		for i, p := range ms {
			if used[i] {
				continue
			}
			down := 0.0
			if p.down {
				down = 1
			}
			k := [6]float64{float64(c.disk[p.disk]), float64(c.domain[domainKey(p, fd)]), down, float64(c.site[string(p.site)]), float64(c.node[domainKey(p, FailureNode)]), -score[i]}
			if best < 0 || slices.Compare(k[:], bk[:]) < 0 {
				best, bk = i, k
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		c.add(ms[best], fd)
		out = append(out, ms[best])
	}
	return out
}

// place picks the disks of a file's k+m shards (see spread) and says which are down: their
// shards fail at once and are rebuilt by Heal. It fails when fewer than k+m disks count, or
// when fewer than the write quorum of the chosen ones are up.
func place(cm ClusterMap, id FileID, l Layout, fd FailureDomain, minFree uint64) ([]DiskID, []bool, error) {
	ms := members(cm, minFree, nil)
	fd = resolveDomain(ms, fd)
	w := l.K + l.M
	ps := spread(ms, id, w, fd)
	if len(ps) < w {
		return nil, nil, fmt.Errorf("%w: layout %s needs %d usable disks, the cluster map has %d", ErrNoLayout, l, w, len(ps))
	}
	out := make([]DiskID, w)
	down := make([]bool, w)
	up := 0
	for i, p := range ps {
		out[i], down[i] = p.disk, p.down
		if !p.down {
			up++
		}
	}
	if up < writeQuorum(l) {
		return nil, nil, fmt.Errorf("%w: only %d of the %d disks for layout %s are up, a write needs %d", ErrNoLayout, up, w, l, writeQuorum(l))
	}
	return out, down, nil
}

// healDisk picks the disk on which to rebuild shard i of a file of layout l whose shards are
// on disks, under the placement rule: no failure domain holds more than l.M shards of the
// file. The candidates are the up disks not in avoid (nor shard i's own disk) whose domain,
// with the rebuilt shard, stays within l.M; among them, a disk holding none of the file's
// other shards first, then the failure domain, site and node holding the fewest of them (see
// spread). So when every disk already holds a shard (3+3 on six disks), the shard goes beside
// another one in a domain that stays within l.M: two shards of a file on one disk are two
// files. The error, wrapping ErrNoLayout, says why there is none.
func healDisk(cm ClusterMap, id FileID, disks []DiskID, i int, l Layout, fd FailureDomain, minFree uint64, avoid map[DiskID]bool) (DiskID, error) {
	all := members(cm, minFree, nil)
	fd = resolveDomain(all, fd)
	c := newSpreadCounts()
	for j, d := range disks {
		if j == i {
			continue
		}
		for _, p := range all {
			if p.disk == d {
				c.add(p, fd)
			}
		}
	}
	var ok []placed
	up, full := 0, 0
	for _, p := range all {
		if p.down || avoid[p.disk] || p.disk == disks[i] {
			continue
		}
		up++
		if c.domain[domainKey(p, fd)]+1 > l.M {
			full++
			continue
		}
		ok = append(ok, p)
	}
	ps := spreadFrom(ok, id, 1, fd, c)
	switch {
	case len(ps) > 0:
		return ps[0].disk, nil
	case up == 0:
		return "", fmt.Errorf("%w: no other up disk with room in the cluster map", ErrNoLayout)
	}
	return "", fmt.Errorf("%w: each of the %d other up disks is in a %s already holding %d shards of layout %s: "+
		"one more there would lose the file with that %s; add or replace a disk", ErrNoLayout, full, fd, l.M, l, fd)
}

// rendezvous is the weighted rendezvous (highest random weight) score of a candidate for id:
// -w / ln(u) with u uniform in (0, 1) from a hash of both.
func rendezvous(id FileID, level, name string, w float64) float64 {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(level))
	h.Write([]byte{0})
	h.Write([]byte(name))
	var sum [32]byte
	h.Sum(sum[:0])
	u := (float64(binary.BigEndian.Uint64(sum[:])>>11) + 0.5) / (1 << 53)
	return -w / math.Log(u)
}
