package node

import (
	"context"
	"time"

	"valise/adminapi"
	"valise/raftfsm"
)

// memberSuffrageNone is the suffrage status shows for a node not in the Raft configuration.
const memberSuffrageNone = "None"

// memberStatus lists the members as this node sees them, for status: every server of the Raft
// configuration, then every node whose record says joining and that is not one yet, each with
// what its record says and what it last answered this node (probed now unless answered in the
// last few seconds, each call bounded by probeTimeout).
func (n *instance) memberStatus(ctx context.Context, rs raftfsm.Status) []adminapi.Member {
	out := []adminapi.Member{}
	records := map[string]nodeRecord{}
	all, _ := nodeRecords(n.store) // an unreadable record leaves site and state empty
	for _, r := range all {
		records[r.ID] = r
	}
	seen := n.members.probe(ctx, rs.Members)
	now := time.Now()
	in := map[string]bool{}
	for _, m := range rs.Members {
		in[m.ID] = true
		r := records[m.ID]
		c := seen[m.ID]
		am := adminapi.Member{
			ID: m.ID, Site: r.Site, Address: m.Address, Suffrage: m.Suffrage, State: r.state(), HTTPS: r.HTTPS,
			Leader: m.ID == rs.LeaderID, Reachable: c.reachable(now, reachableFor), AppliedIndex: c.progress.Applied,
		}
		if r.ID == "" {
			am.State = "" // no record: nothing to say
		}
		if !c.ok.IsZero() {
			am.LastContact = c.ok.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, am)
	}
	for _, r := range all {
		if !in[r.ID] && r.state() == nodeJoining {
			out = append(out, adminapi.Member{ID: r.ID, Site: r.Site, Address: r.Cluster, Suffrage: memberSuffrageNone, State: r.state(), HTTPS: r.HTTPS})
		}
	}
	return out
}
