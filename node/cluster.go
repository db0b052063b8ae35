package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"valise/blobstore"
	"valise/raftfsm"
)

// Metadata keys the node itself owns.
const (
	// keyClusterInfo holds the clusterInfo record, written at init.
	keyClusterInfo = "cluster/info"
	// prefixNodes holds one nodeRecord per node: cluster/nodes/<id>.
	prefixNodes = "cluster/nodes/"
	// prefixSelftest holds the selftest files: selftest/<id>.
	prefixSelftest = "selftest/"
)

// diskMarkerName is the identity file at the root of every disk directory.
const diskMarkerName = "valise-disk.json"

// clusterInfo is the cluster's identity, written once at init.
type clusterInfo struct {
	ID string `json:"id"` // written in every shard file's header
}

// nodeRecord describes one node for placement, membership and status. Every field added
// since the first release is omitempty, so records written by init before it read back as
// an active node whose addresses are not yet published.
type nodeRecord struct {
	ID   string `json:"id"`
	Site string `json:"site"`
	// Cluster is the node's advertised cluster port, host:port: its Raft address, and where
	// the other nodes reach its disks (shardnet). The node publishes it once a leader is known
	// whenever it changed; join writes it first.
	Cluster string `json:"cluster,omitempty"`
	// HTTPS is the node's advertised HTTPS address, host:port, for status.
	HTTPS string `json:"https,omitempty"`
	// State is the node's membership state (nodeJoining, nodeActive, nodeDraining,
	// nodeRemoved); empty reads as nodeActive.
	State string       `json:"state,omitempty"`
	Disks []diskRecord `json:"disks"`
}

// Membership states of a nodeRecord.
const (
	// nodeJoining: join wrote the record; the leader adds the node to Raft as a non-voter.
	nodeJoining = "joining"
	// nodeActive: a member serving and holding shards.
	nodeActive = "active"
	// nodeDraining: cluster remove or leave asked for it; its shards move elsewhere, then it
	// is removed from Raft.
	nodeDraining = "draining"
	// nodeRemoved: out of the cluster; the record stays for the journal and status.
	nodeRemoved = "removed"
)

// state returns r's membership state, nodeActive for records written before states existed.
func (r nodeRecord) state() string {
	if r.State == "" {
		return nodeActive
	}
	return r.State
}

// diskRecord is one disk of a node.
type diskRecord struct {
	ID   string `json:"id"`   // cluster-wide disk ID
	Path string `json:"path"` // on its node
	// State is "" while the disk serves, "failed" once it failed while serving (its shards are
	// healed elsewhere), "retired" when it was replaced by an empty disk with a new ID.
	State string `json:"state,omitempty"`
}

// diskMarker is the content of a disk's identity file: it ties the directory to its cluster
// and disk ID, so a disk mounted in the wrong place is refused rather than written over.
type diskMarker struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	DiskID    string `json:"disk_id"`
}

// diskID returns the ID of this node's i-th disk (from 0).
func diskID(nodeID string, i int) string { return nodeID + "-d" + strconv.Itoa(i+1) }

// writeDiskMarker writes the identity file of a disk directory.
func writeDiskMarker(dir string, m diskMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, diskMarkerName), append(b, '\n'), 0o600)
}

// readDiskMarker reads a disk directory's identity file.
func readDiskMarker(dir string) (diskMarker, error) {
	var m diskMarker
	b, err := os.ReadFile(filepath.Join(dir, diskMarkerName))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("read %s: %w", filepath.Join(dir, diskMarkerName), err)
	}
	return m, nil
}

// getJSON reads key from the local state into v.
func getJSON(store *raftfsm.Store, key string, v any) error {
	it, err := store.Get([]byte(key))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(it.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// nodeRecords returns every node record, sorted by ID.
func nodeRecords(store *raftfsm.Store) ([]nodeRecord, error) {
	var out []nodeRecord
	err := store.Scan([]byte(prefixNodes), func(it raftfsm.Item) error {
		var r nodeRecord
		if err := json.Unmarshal(it.Value, &r); err != nil {
			return fmt.Errorf("decode %s: %w", it.Key, err)
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// clusterMap builds blobstore's placement input from the node records and what the node learnt
// of each disk's free space (usage, by disk ID; see placement.refresh). Removed and joining
// nodes are left out, and so are retired disks (replaced by a new disk: the map no longer
// knows them, so heal rebuilds their shards elsewhere). A draining node's disks are
// DiskDraining; a failed disk, and one that did not answer (its node down or unreachable),
// are DiskDown: they still count for the layout, as a node may be away for a while. A disk's
// weight is its free space in GiB (at least 1), so emptier disks take more new shards.
func clusterMap(nodes []nodeRecord, self string, usage map[string]diskUsage) blobstore.ClusterMap {
	sites := map[string]*blobstore.Site{}
	var order []string
	for _, n := range nodes {
		if st := n.state(); st == nodeRemoved || st == nodeJoining && n.ID != self {
			continue
		}
		s, ok := sites[n.Site]
		if !ok {
			s = &blobstore.Site{ID: blobstore.SiteID(n.Site)}
			sites[n.Site] = s
			order = append(order, n.Site)
		}
		bn := blobstore.Node{ID: blobstore.NodeID(n.ID)}
		for _, d := range n.Disks {
			if d.State == "retired" {
				continue
			}
			info := blobstore.DiskInfo{ID: blobstore.DiskID(d.ID), State: blobstore.DiskDown}
			if u := usage[d.ID]; u.ok && d.State == "" {
				info.FreeBytes, info.State = u.free, blobstore.DiskUp
				info.Weight = max(1, float64(u.free)/(1<<30))
				if n.state() == nodeDraining {
					info.State = blobstore.DiskDraining
				}
			}
			bn.Disks = append(bn.Disks, info)
		}
		s.Nodes = append(s.Nodes, bn)
	}
	var cm blobstore.ClusterMap
	for _, id := range order {
		cm.Sites = append(cm.Sites, *sites[id])
	}
	return cm
}

// advertiseAddr returns the cluster address peers should use: --advertise (with the bound
// port when it names none), else the bound IP unless unspecified, else the host's first
// non-loopback address, else the loopback.
func advertiseAddr(advertise, bound string) (string, error) {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", fmt.Errorf("bound cluster address %s: %w", bound, err)
	}
	if advertise != "" {
		if h, p, err := net.SplitHostPort(advertise); err == nil {
			if p == "0" || p == "" {
				p = port
			}
			return net.JoinHostPort(h, p), nil
		}
		return net.JoinHostPort(advertise, port), nil
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return net.JoinHostPort(host, port), nil
	}
	if ip := firstNonLoopback(); ip != nil {
		return net.JoinHostPort(ip.String(), port), nil
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// firstNonLoopback returns the host's first non-loopback unicast address, IPv4 first.
func firstNonLoopback() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP
		}
		if v6 == nil {
			v6 = ipn.IP
		}
	}
	return v6
}

// writeFileAtomic writes data to path through a synced temporary file and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync the folder of %s: %w", path, err)
	}
	return nil
}
