package node

import (
	"context"
	"fmt"
	"strings"

	"valise/adminapi"
	"valise/blobstore"
)

// Draining a node (appliance cluster remove NODE, appliance leave): its record goes to
// nodeDraining, so placement gives its disks no new shard; the drain job rebuilds every shard
// on its disks elsewhere (heal with those disks avoided) and commits the new manifests; then
// the record goes to nodeRemoved, and the membership reconciler takes the node out of Raft.
// A drain left unfinished (a leader change, a restart) is resumed by the leader's repair loop.

// Drain implements adminapi.RepairService.
func (s *adminService) Drain(ctx context.Context, req adminapi.DrainRequest, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	n := s.n
	node := req.Node
	if node == "" {
		node = n.cfg.Node.ID
	}
	if err := s.leader(); err != nil {
		if st := n.store.Status(); req.Node == "" && st.LeaderID != "" && !st.State.IsLeader() {
			// leave on a follower: the leader drives the drain.
			return adminapi.JobProgress{}, adminapi.Errorf(adminapi.CodeNotLeader,
				"this node is not the leader: run `appliance cluster remove %s` on the leader %s (%s)", node, st.LeaderID, st.LeaderAddr)
		}
		return adminapi.JobProgress{}, err
	}
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return adminapi.JobProgress{}, fmt.Errorf("read the node records: %w", err)
	}
	var rec *nodeRecord
	var known []string
	for i := range nodes {
		known = append(known, nodes[i].ID)
		if nodes[i].ID == node {
			rec = &nodes[i]
		}
	}
	if rec == nil {
		return adminapi.JobProgress{}, adminapi.Errorf(adminapi.CodeNotFound, "no node %s in the cluster (nodes: %s)", node, strings.Join(known, ", "))
	}
	switch rec.state() {
	case nodeRemoved:
		return adminapi.JobProgress{}, adminapi.Errorf(adminapi.CodeConflict, "node %s is removed already", node)
	case nodeDraining:
		// Resume: the check passed when the drain began.
	default:
		items, err := n.repair.collect()
		if err != nil {
			return adminapi.JobProgress{}, err
		}
		var widest blobstore.Layout
		for _, it := range items {
			if it.m.Layout.K+it.m.Layout.M > widest.K+widest.M {
				widest = it.m.Layout
			}
		}
		if l, err := blobstore.ParseLayout(n.cfg.Blobstore.Layout); err == nil && l.K+l.M > widest.K+widest.M {
			widest = l
		}
		cm := n.placement.update(ctx)
		if err := drainFeasible(cm, nodes, node, widest); err != nil {
			return adminapi.JobProgress{}, adminapi.Errorf(adminapi.CodeInvalidValue, "%v", err)
		}
		if err := n.repair.busy(adminapi.JobDrain, node); err != nil {
			return adminapi.JobProgress{}, err
		}
		if err := n.updateNodeRecord(ctx, node, "node.drain", func(r *nodeRecord) { r.State = nodeDraining }); err != nil {
			return adminapi.JobProgress{}, translate(err)
		}
		n.repair.refreshMap(ctx)
		n.logger.Info("node draining", logNodeID, node)
	}
	run, err := n.repair.start(adminapi.JobDrain, "drain "+node, node)
	if err != nil {
		return adminapi.JobProgress{}, err
	}
	return n.repair.watch(ctx, run, progress)
}

// drainFeasible says why the cluster of cm cannot hold its files once node is drained: it is
// the last active node, or the disks left up on the other nodes are fewer than the widest
// layout needs (one shard per disk).
func drainFeasible(cm blobstore.ClusterMap, nodes []nodeRecord, node string, widest blobstore.Layout) error {
	others := 0
	for _, r := range nodes {
		if r.ID != node && r.state() == nodeActive {
			others++
		}
	}
	if others == 0 {
		return fmt.Errorf("cannot remove node %s: it is the last active node of the cluster", node)
	}
	usable := 0
	for _, s := range cm.Sites {
		for _, nd := range s.Nodes {
			if string(nd.ID) == node {
				continue
			}
			for _, d := range nd.Disks {
				if d.State == blobstore.DiskUp {
					usable++
				}
			}
		}
	}
	if need := widest.K + widest.M; usable < need {
		return fmt.Errorf("cannot remove node %s: the other nodes have %d usable disks and files need %d (layout %s); add disks or nodes first", node, usable, need, widest)
	}
	return nil
}

// drainDisks returns the disks of node, from its record.
func (r *repairer) drainDisks(node string) ([]blobstore.DiskID, error) {
	nodes, err := nodeRecords(r.n.store)
	if err != nil {
		return nil, fmt.Errorf("read the node records: %w", err)
	}
	for _, rec := range nodes {
		if rec.ID == node {
			var out []blobstore.DiskID
			for _, d := range rec.Disks {
				out = append(out, blobstore.DiskID(d.ID))
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no node %s in the cluster", node)
}

// finishDrain marks a drained node removed.
func (r *repairer) finishDrain(ctx context.Context, node string) error {
	if err := r.n.updateNodeRecord(ctx, node, "node.remove", func(rec *nodeRecord) { rec.State = nodeRemoved }); err != nil {
		return err
	}
	r.refreshMap(ctx)
	r.n.logger.Info("node drained: no shard left on its disks; marked removed", logNodeID, node)
	return nil
}
