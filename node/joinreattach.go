package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Re-attaching disks at `join --replace` (issue 19): after a restore, or when a node lost its
// data directory but not its disks, the node rejoins with its old disk directories. A disk
// whose marker names the node replaced keeps its disk ID (the manifests name it, so its shards
// read at once, without heal); the cluster checks that the marker is of this cluster and that
// the node had that disk. A disk marked for another node or cluster is refused: its shards
// are not this node's to serve.

// reattachEntries are the names a re-attachable disk may hold at its root.
var reattachEntries = map[string]bool{diskMarkerName: true, "shards": true, "staged": true, ".probe": true, "lost+found": true}

// joinDisks returns the disks of a joining node's request: an empty or missing directory as
// a new disk, one carrying a marker of the node replaced as that disk re-attached. It refuses
// a marker of another node, a marker without --replace, and a directory holding anything
// else.
func joinDisks(paths []string, replace string) ([]joinDisk, error) {
	out := make([]joinDisk, 0, len(paths))
	seen := map[string]string{}
	for _, p := range paths {
		m, err := readDiskMarker(p)
		if errors.Is(err, os.ErrNotExist) {
			if err := checkEmpty(p, false); err != nil {
				return nil, fmt.Errorf("disk %s: %w", p, err)
			}
			out = append(out, joinDisk{Path: p})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", p, err)
		}
		switch {
		case replace == "":
			return nil, fmt.Errorf("disk %s belongs to node %s of cluster %s (its %s): a new node needs empty disks; to bring node %s back with this disk, join with --replace %s",
				p, m.NodeID, m.ClusterID, diskMarkerName, m.NodeID, m.NodeID)
		case m.NodeID != replace:
			return nil, fmt.Errorf("disk %s belongs to node %s (its %s), not to node %s being replaced: give node %s's own disks, or empty ones",
				p, m.NodeID, diskMarkerName, replace, replace)
		case m.DiskID == "" || m.ClusterID == "":
			return nil, fmt.Errorf("disk %s: its %s names no disk or no cluster", p, diskMarkerName)
		case seen[m.DiskID] != "":
			return nil, fmt.Errorf("disks %s and %s are both marked as disk %s: one is a copy; give each disk once", seen[m.DiskID], p, m.DiskID)
		}
		seen[m.DiskID] = p
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", p, err)
		}
		for _, e := range entries {
			if !reattachEntries[e.Name()] {
				return nil, fmt.Errorf("disk %s: %w: it holds %s besides its marker and shards", p, ErrNotEmpty, e.Name())
			}
		}
		out = append(out, joinDisk{Path: p, Reattach: m.DiskID, ClusterID: m.ClusterID})
	}
	return out, nil
}

// checkJoinDataDir checks that the data directory of a joining node is missing or empty, but
// for the folders leading to the disks re-attached (DATA/disks/d1 of a node that joined with
// --disks).
func checkJoinDataDir(dir string, disks []joinDisk) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		if !holdsReattached(filepath.Join(dir, e.Name()), disks) {
			return fmt.Errorf("%w: %s holds %s; join needs an empty directory (but for the disks it re-attaches)", ErrNotEmpty, dir, e.Name())
		}
	}
	return nil
}

// holdsReattached says whether path is a disk re-attached or a folder above one.
func holdsReattached(path string, disks []joinDisk) bool {
	for _, d := range disks {
		if d.Reattach != "" && (d.Path == path || strings.HasPrefix(d.Path, path+string(filepath.Separator))) {
			return true
		}
	}
	return false
}

// reattached checks the disks of a join request that ask to be re-attached against old, the
// record of the node replaced (zero for a new node, which may re-attach none), and returns
// their paths by disk ID.
func (j *joinServer) reattached(disks []joinDisk, old nodeRecord) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range disks {
		if d.Reattach == "" {
			continue
		}
		switch {
		case old.ID == "":
			return nil, badJoin("disk %s is marked as disk %s: only join --replace re-attaches a disk; a new node needs empty disks", d.Path, d.Reattach)
		case d.ClusterID != j.n.cluster.ID:
			return nil, badJoin("disk %s belongs to cluster %s, not to this cluster (%s): its shards cannot be read here; give an empty disk", d.Path, d.ClusterID, j.n.cluster.ID)
		case !slices.ContainsFunc(old.Disks, func(r diskRecord) bool { return r.ID == d.Reattach }):
			return nil, badJoin("disk %s is marked as disk %s, which node %s never had", d.Path, d.Reattach, old.ID)
		case out[d.Reattach] != "":
			return nil, badJoin("disk %s is given twice (%s and %s)", d.Reattach, out[d.Reattach], d.Path)
		}
		out[d.Reattach] = d.Path
	}
	return out, nil
}
