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

// candidate layouts for AutoLayout, in order of preference.
var autoCandidates = [...]Layout{
	{8, 4}, {8, 2}, {7, 2}, {6, 2}, {5, 2}, {4, 2}, {3, 2}, {2, 2}, {4, 1}, {3, 1}, {2, 1}, {1, 1},
}

func autoLayout(cm ClusterMap, fd FailureDomain, minFree uint64) (Layout, error) {
	for _, l := range autoCandidates {
		order := spreadOrder(cm, "", fd, minFree, nil)
		if len(order) < l.K+l.M {
			continue
		}
		if maxPerDomain(order[:l.K+l.M], fd) <= l.M {
			return l, nil
		}
	}
	return Layout{}, fmt.Errorf("%w: the cluster map has too few usable %ss to survive the loss of one", ErrNoLayout, fd)
}

// placed is a disk chosen by placement with its domains.
type placed struct {
	disk DiskID
	node NodeID
	site SiteID
}

func maxPerDomain(ps []placed, fd FailureDomain) int {
	count := map[string]int{}
	best := 0
	for _, p := range ps {
		var key string
		switch fd {
		case FailureDisk:
			key = string(p.disk)
		case FailureNode:
			key = string(p.site) + "\x00" + string(p.node)
		case FailureSite:
			key = string(p.site)
		}
		count[key]++
		best = max(best, count[key])
	}
	return best
}

// place picks the disks of a file's k+m shards: spread across sites, then nodes, then disks,
// each level ranked by weighted rendezvous hashing of the file ID, so the same map and ID always
// give the same disks. exclude lists disks that must not be chosen.
func place(cm ClusterMap, id FileID, l Layout, minFree uint64, exclude map[DiskID]bool) ([]DiskID, error) {
	order := spreadOrder(cm, id, FailureDisk, minFree, exclude)
	w := l.K + l.M
	if len(order) < w {
		return nil, fmt.Errorf("%w: layout %s needs %d usable disks, the cluster map has %d", ErrNoLayout, l, w, len(order))
	}
	out := make([]DiskID, w)
	for i := range out {
		out[i] = order[i].disk
	}
	return out, nil
}

// spreadOrder lists the usable disks so that taking a prefix spreads over sites first, then
// nodes, then disks. fd is unused by the order itself (the interleave always spreads over every
// level); it is kept for readability of the callers.
func spreadOrder(cm ClusterMap, id FileID, _ FailureDomain, minFree uint64, exclude map[DiskID]bool) []placed {
	var sites []ranked
	for _, s := range cm.Sites {
		var nodes []ranked
		siteWeight := 0.0
		for _, n := range s.Nodes {
			var disks []ranked
			nodeWeight := 0.0
			for _, d := range n.Disks {
				if d.State != DiskUp || d.FreeBytes < minFree || exclude[d.ID] {
					continue
				}
				w := d.Weight
				if w <= 0 {
					w = 1
				}
				nodeWeight += w
				disks = append(disks, ranked{rendezvous(id, "d", string(d.ID), w), []placed{{d.ID, n.ID, s.ID}}})
			}
			if len(disks) == 0 {
				continue
			}
			siteWeight += nodeWeight
			nodes = append(nodes, ranked{rendezvous(id, "n", string(s.ID)+"\x00"+string(n.ID), nodeWeight), interleave(sortRanked(disks))})
		}
		if len(nodes) == 0 {
			continue
		}
		sites = append(sites, ranked{rendezvous(id, "s", string(s.ID), siteWeight), interleave(sortRanked(nodes))})
	}
	return interleave(sortRanked(sites))
}

// ranked is a candidate group with its rendezvous score.
type ranked struct {
	score float64
	list  []placed
}

// sortRanked orders groups by descending score and returns their lists.
func sortRanked(rs []ranked) [][]placed {
	slices.SortStableFunc(rs, func(a, b ranked) int { return cmp.Compare(b.score, a.score) })
	out := make([][]placed, len(rs))
	for i, r := range rs {
		out[i] = r.list
	}
	return out
}

// interleave takes one from each group in turn until all are exhausted.
func interleave(groups [][]placed) []placed {
	var out []placed
	for i := 0; ; i++ {
		took := false
		for _, g := range groups {
			if i < len(g) {
				out = append(out, g[i])
				took = true
			}
		}
		if !took {
			return out
		}
	}
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
