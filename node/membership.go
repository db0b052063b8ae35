package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/logkey"
	"valise/raftfsm"
)

// Membership: the node records in Raft (cluster.go, nodeRecord) are the truth about who is in
// the cluster; the leader's reconciler makes Raft's configuration follow them (issue 18).
//
//   - joining: join wrote the record with the node's cluster address. The leader removes a
//     member of that ID still in Raft as a voter first (a node replaced by join --replace: its
//     new incarnation has an empty log and must never vote before it has caught up), adds it as
//     a non-voter, then sets the record active (conditional on the record's version).
//   - active: the member's Raft address follows the record's; the voter policy (voters.go)
//     promotes caught-up members and demotes those beyond it, one change at a time.
//   - draining: the policy demotes it (promoting another first); drain moves its shards.
//   - removed: the leader removes it from Raft.
//
// Every node runs the reconciler; it acts only while its node leads. Each change is logged and
// journalled: a record under prefixMembership says what the leader last did to the member.

// prefixMembership holds one membershipRecord per member the reconciler changed:
// cluster/membership/<id>.
const prefixMembership = "cluster/membership/"

// membershipActor is the journal's actor for the reconciler's changes.
const membershipActor = "membership"

// Timings of the reconciler and of the probes.
const (
	// reconcileEvery is how often the leader reconciles when nothing is applied meanwhile.
	reconcileEvery = time.Second
	// reconcileGap is the least time between two passes woken by applied entries, so that a
	// busy cluster does not reconcile on every write.
	reconcileGap = 200 * time.Millisecond
	// probeTimeout bounds one progress call to a member.
	probeTimeout = time.Second
	// probeFresh is how long a probe's answer is reused: status and the reconciler share it.
	probeFresh = 2 * time.Second
	// reachableFor is how long after its last answer a member counts as reachable.
	reachableFor = 5 * time.Second
	// voterGrace is how long a voter may stay silent before the policy replaces it: a restart
	// must not shuffle the voters.
	voterGrace = 30 * time.Second
	// journalWait bounds how long a change's journal entry waits for a leader.
	journalWait = 10 * time.Second
	// caughtUpLag is how many log entries a member may be behind the leader and still count
	// as caught up.
	caughtUpLag = 64
)

// membershipRecord is what the reconciler last did to a member, journalled with the change.
type membershipRecord struct {
	ID       string `json:"id"`
	Address  string `json:"address,omitempty"`
	Suffrage string `json:"suffrage"` // "voter", "nonvoter" or "removed"
}

// progressCaller asks a node for its progress: raftnet's ReadIndexClient.
type progressCaller interface {
	Progress(ctx context.Context, addr raft.ServerAddress) (raftfsm.Progress, error)
}

// contact is what this node last heard from a member.
type contact struct {
	ok       time.Time // the last answer; zero if none yet
	tried    time.Time // the last call
	progress raftfsm.Progress
	err      error // of the last call, nil if it answered
}

// prober asks the members for their progress and remembers the answers for probeFresh.
type prober struct {
	self   string
	store  *raftfsm.Store // never nil
	caller progressCaller // never nil
	now    func() time.Time

	mu   sync.Mutex // guards seen
	seen map[string]contact
}

func newProber(self string, store *raftfsm.Store, caller progressCaller) *prober {
	return &prober{self: self, store: store, caller: caller, now: time.Now, seen: map[string]contact{}}
}

// probe returns what this node knows of each member, asking those not asked for probeFresh
// (concurrently, each within probeTimeout); this node answers for itself.
func (p *prober) probe(ctx context.Context, members []raftfsm.Member) map[string]contact {
	now := p.now()
	out := make(map[string]contact, len(members))
	var wg sync.WaitGroup
	var mu sync.Mutex // guards out while the calls run
	p.mu.Lock()
	for _, m := range members {
		c := p.seen[m.ID]
		switch {
		case m.ID == p.self:
			c = contact{ok: now, tried: now, progress: p.store.Progress()}
			p.seen[m.ID] = c
		case now.Sub(c.tried) >= probeFresh:
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				pr, err := p.caller.Progress(cctx, raft.ServerAddress(m.Address))
				p.mu.Lock()
				c := p.seen[m.ID]
				c.tried, c.err = now, err
				if err == nil {
					c.ok, c.progress = p.now(), pr
				}
				p.seen[m.ID] = c
				p.mu.Unlock()
				mu.Lock()
				out[m.ID] = c
				mu.Unlock()
			}()
			continue
		}
		out[m.ID] = c
	}
	p.mu.Unlock()
	wg.Wait()
	return out
}

// forget drops what this node heard from member id: it was replaced, and what its earlier
// incarnation answered says nothing of the new one.
func (p *prober) forget(id string) {
	p.mu.Lock()
	delete(p.seen, id)
	p.mu.Unlock()
}

// reachable reports whether c answered within d of now.
func (c contact) reachable(now time.Time, d time.Duration) bool {
	return !c.ok.IsZero() && now.Sub(c.ok) <= d
}

// startMembership starts the reconciler and the publication of this node's addresses as
// background jobs.
func (n *instance) startMembership() {
	n.members = newProber(n.cfg.Node.ID, n.store, n.riClient)
	n.bg.Add(2)
	go n.reconcileLoop()
	go n.publishSelf()
}

// reconcileLoop runs a reconciliation pass on every tick and whenever entries were applied
// (at most every reconcileGap), while this node leads, until the node stops.
func (n *instance) reconcileLoop() {
	defer n.bg.Done()
	ctx := n.bgCtx
	last := time.Time{}
	for {
		applied := n.store.Progress().Applied
		if n.store.Status().State.IsLeader() && time.Since(last) >= reconcileGap {
			last = time.Now()
			for range 8 { // one change a pass; go on while there are changes, bounded
				changed, err := n.reconcile(ctx)
				if err != nil && ctx.Err() == nil {
					n.logger.Warn("membership: reconcile", logkey.Err, err)
				}
				if !changed || err != nil {
					break
				}
			}
		}
		wctx, cancel := context.WithTimeout(ctx, reconcileEvery)
		err := n.store.WaitApplied(wctx, applied+1)
		cancel()
		if ctx.Err() != nil || errors.Is(err, raftfsm.ErrClosed) {
			return
		}
		if err == nil {
			// Woken by an entry: wait out the gap, unless the node stops.
			t := time.NewTimer(max(0, reconcileGap-time.Since(last)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// reconcile makes one change towards what the node records say, if one is due, and reports
// whether it made one.
func (n *instance) reconcile(ctx context.Context) (bool, error) {
	records, err := nodeRecords(n.store)
	if err != nil {
		return false, fmt.Errorf("read the node records: %w", err)
	}
	cfg, err := n.store.Configuration()
	if err != nil {
		return false, err
	}
	byID := map[string]nodeRecord{}
	for _, r := range records {
		byID[r.ID] = r
		m, in := cfg.Member(r.ID)
		switch r.state() {
		case nodeJoining:
			if r.Cluster == "" {
				continue // join writes the address; nothing to add yet
			}
			if r.ID == n.cfg.Node.ID {
				// This node leads with its log: a replacement of it is a mistake, and removing
				// it first would take a live node out.
				n.logger.Warn("membership: this node's own record says joining; leaving it as is", logNodeID, r.ID)
				continue
			}
			return true, n.admit(ctx, r, m, in)
		case nodeRemoved:
			// A voter is demoted by the policy first, which keeps a quorum; the leader leaves
			// its own removal to the next leader.
			if in && !m.IsVoter() && r.ID != n.cfg.Node.ID {
				return true, n.changeMember(ctx, "removed", membershipRecord{ID: r.ID, Suffrage: "removed"}, func() error {
					return n.store.RemoveServer(ctx, r.ID)
				})
			}
		default:
			if in && r.Cluster != "" && m.Address != r.Cluster && r.ID != n.cfg.Node.ID {
				// AddNonvoter only updates the address of a member, a voter stays a voter.
				return true, n.changeMember(ctx, "address", membershipRecord{ID: r.ID, Address: r.Cluster, Suffrage: suffrageName(m)}, func() error {
					return n.store.AddNonvoter(ctx, r.ID, raft.ServerAddress(r.Cluster))
				})
			}
		}
	}
	// The voter policy, on what this node hears from each member. A member's progress counts
	// only past the last change made to it: what a replaced node's earlier incarnation
	// answered, to this leader or an earlier one, never makes its new one look caught up.
	since, err := n.memberChanges()
	if err != nil {
		return false, err
	}
	seen := n.members.probe(ctx, cfg.Members)
	now := time.Now()
	lead := n.store.Progress().LastIndex
	var vm []voterMember
	for _, m := range cfg.Members {
		r, ok := byID[m.ID]
		if !ok {
			r = nodeRecord{ID: m.ID, State: nodeActive} // a member without a record: as init's
		}
		c := seen[m.ID]
		grace := reachableFor
		if m.IsVoter() {
			grace = voterGrace
		}
		vm = append(vm, voterMember{
			ID: m.ID, Site: r.Site, State: r.state(), Voter: m.IsVoter(),
			CaughtUp:  c.progress.LastIndex > since[m.ID] && c.progress.LastIndex+caughtUpLag >= lead,
			Reachable: c.reachable(now, grace),
		})
	}
	change, ok := nextVoterChange(vm, n.cfg.Node.ID)
	if !ok {
		return false, nil
	}
	m, _ := cfg.Member(change.ID)
	if change.Promote {
		return true, n.changeMember(ctx, "voter", membershipRecord{ID: m.ID, Address: m.Address, Suffrage: "voter"}, func() error {
			return n.store.AddVoter(ctx, m.ID, raft.ServerAddress(m.Address))
		})
	}
	return true, n.changeMember(ctx, "nonvoter", membershipRecord{ID: m.ID, Address: m.Address, Suffrage: "nonvoter"}, func() error {
		return n.store.DemoteVoter(ctx, m.ID)
	})
}

// memberChanges returns, for each member the reconciler changed, the log index of its last
// change (the version of its membershipRecord).
func (n *instance) memberChanges() (map[string]uint64, error) {
	out := map[string]uint64{}
	err := n.store.Scan([]byte(prefixMembership), func(it raftfsm.Item) error {
		out[strings.TrimPrefix(string(it.Key), prefixMembership)] = it.Version
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the membership records: %w", err)
	}
	return out, nil
}

// admit adds a joining node to Raft as a non-voter, then sets its record active. m is the
// member of that ID already in Raft, if in.
func (n *instance) admit(ctx context.Context, r nodeRecord, m raftfsm.Member, in bool) error {
	n.members.forget(r.ID)
	if in && m.IsVoter() {
		// A replaced node (join --replace): its new incarnation has an empty log and must
		// never vote as the old one did. Out first; a quorum of the others goes on.
		if err := n.changeMember(ctx, "removed", membershipRecord{ID: r.ID, Suffrage: "removed"}, func() error {
			return n.store.RemoveServer(ctx, r.ID)
		}); err != nil {
			return err
		}
	}
	if err := n.changeMember(ctx, "nonvoter", membershipRecord{ID: r.ID, Address: r.Cluster, Suffrage: "nonvoter"}, func() error {
		return n.store.AddNonvoter(ctx, r.ID, raft.ServerAddress(r.Cluster))
	}); err != nil {
		return err
	}
	err := n.updateRecord(ctx, r.ID, membershipActor, "cluster.member.activate", func(rec *nodeRecord) bool {
		if rec.state() != nodeJoining {
			return false
		}
		rec.State = nodeActive
		return true
	})
	if err == nil {
		n.logger.Info("membership: node active", logNodeID, r.ID, "site", r.Site)
	}
	return err
}

// changeMember makes one Raft configuration change, then journals it as
// cluster.member.<action> ("voter", "nonvoter", "removed", "address") with rec, what the member
// is after it, and logs it. The journal entry follows the change: a leader that fails between
// the two leaves the change made and unjournalled, which the log still shows.
func (n *instance) changeMember(ctx context.Context, action string, rec membershipRecord, change func() error) error {
	id := rec.ID
	if err := change(); err != nil {
		return fmt.Errorf("membership %s of %s: %w", action, id, err)
	}
	n.logger.Info("membership: raft configuration changed", logNodeID, id, "change", action, logAddr, rec.Address, "suffrage", rec.Suffrage)
	b, _ := json.Marshal(rec)
	batch := raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixMembership + id), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: membershipActor, Action: "cluster.member." + action, Target: id, Details: b},
	}
	// A change may depose this leader (it demoted itself): the entry then goes to the next
	// one, once elected. Retried only while nothing was proposed.
	jctx, cancel := context.WithTimeout(ctx, journalWait)
	defer cancel()
	for {
		_, err := n.store.Propose(jctx, batch)
		if err == nil {
			return nil
		}
		retry := (errors.Is(err, raftfsm.ErrNoLeader) || errors.Is(err, raftfsm.ErrNotLeader)) && !errors.Is(err, raftfsm.ErrOutcomeUnknown)
		if !retry {
			return fmt.Errorf("journal membership %s of %s: %w", action, id, err)
		}
		t := time.NewTimer(100 * time.Millisecond) // pace the retries while a leader is elected
		select {
		case <-jctx.Done():
			t.Stop()
			return fmt.Errorf("journal membership %s of %s: %w", action, id, err)
		case <-t.C:
		}
	}
}

// suffrageName is how the journal names m's suffrage.
func suffrageName(m raftfsm.Member) string {
	if m.IsVoter() {
		return "voter"
	}
	return "nonvoter"
}

// updateRecord reads node id's record, lets fn change it (fn returns false to leave it) and
// proposes it conditional on the version read, journalled as action by actor. A record
// changed meanwhile gives a conflict: the caller reads again at its next pass.
func (n *instance) updateRecord(ctx context.Context, id, actor, action string, fn func(*nodeRecord) bool) error {
	b, ok, err := n.recordBatch(id, actor, action, fn)
	if err != nil || !ok {
		return err
	}
	if _, err := n.store.Propose(ctx, b); err != nil {
		return fmt.Errorf("update the record of node %s: %w", id, err)
	}
	return nil
}

// recordBatch is updateRecord's batch; ok is false when fn leaves the record as it is.
func (n *instance) recordBatch(id, actor, action string, fn func(*nodeRecord) bool) (b raftfsm.Batch, ok bool, err error) {
	key := []byte(prefixNodes + id)
	it, err := n.store.Get(key)
	if err != nil {
		return b, false, fmt.Errorf("read the record of node %s: %w", id, err)
	}
	var rec nodeRecord
	if err := json.Unmarshal(it.Value, &rec); err != nil {
		return b, false, fmt.Errorf("decode the record of node %s: %w", id, err)
	}
	if !fn(&rec) {
		return b, false, nil
	}
	value, err := json.Marshal(rec)
	if err != nil {
		return b, false, err
	}
	details, _ := json.Marshal(map[string]string{"state": rec.state(), "cluster": rec.Cluster, "https": rec.HTTPS})
	return raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: it.Version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: value}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: actor, Action: action, Target: id, Details: details},
	}, true, nil
}

// publishWait is how long publishSelf waits to hear from a leader before it sends its
// addresses to every member it knows: a leader that has this node's old address never calls.
const publishWait = 3 * time.Second

// publishSelf writes this node's advertised cluster and HTTPS addresses into its record when
// they differ, retrying until done or the node stops: through the leader once one is known,
// else straight to each member of the configuration this node knows, which the leader takes
// and the others refuse (a node whose address changed hears from no leader until the leader
// has its new address). The leader's reconciler then moves the node's Raft address to the
// record's.
func (n *instance) publishSelf() {
	defer n.bg.Done()
	ctx := n.bgCtx
	https := httpsAdvertised(n.cfg.Network.Advertise, n.https.Addr().String())
	publish := func(r *nodeRecord) bool {
		if r.Cluster == n.advertise && r.HTTPS == https {
			return false
		}
		r.Cluster, r.HTTPS = n.advertise, https
		return true
	}
	actor := "node:" + n.cfg.Node.ID
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	for {
		wctx, cancel := context.WithTimeout(ctx, publishWait)
		_, werr := n.store.WaitLeader(wctx)
		cancel()
		var err error
		switch {
		case ctx.Err() != nil:
			return
		case werr != nil:
			err = n.publishToAny(ctx, actor, publish)
		default:
			err = n.updateRecord(ctx, n.cfg.Node.ID, actor, "cluster.node.addresses", publish)
		}
		if err == nil {
			if _, changed, _ := n.recordBatch(n.cfg.Node.ID, actor, "", publish); !changed {
				n.logger.Info("membership: this node's addresses are published", "cluster", n.advertise, "https", https)
				return
			}
		} else if errors.Is(err, raftfsm.ErrConflict) || errors.Is(err, raftfsm.ErrNotFound) {
			// This node's state is behind the leader's (it is catching up): again once it is.
			n.logger.Debug("membership: publish this node's addresses", logkey.Err, err)
		} else {
			n.logger.Warn("membership: publish this node's addresses", logkey.Err, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publishToAny sends the batch that publishes this node's addresses to each other member of
// the configuration this node knows until one, the leader, takes it.
func (n *instance) publishToAny(ctx context.Context, actor string, publish func(*nodeRecord) bool) error {
	b, ok, err := n.recordBatch(n.cfg.Node.ID, actor, "cluster.node.addresses", publish)
	if err != nil || !ok {
		return err
	}
	data, err := raftfsm.EncodeBatch(b)
	if err != nil {
		return err
	}
	cfg, err := n.store.Configuration()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range cfg.Members {
		if m.ID == n.cfg.Node.ID {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := n.riClient.Forward(fctx, raft.ServerAddress(m.Address), data)
		cancel()
		if err == nil {
			n.logger.Info("membership: this node's addresses sent to the leader", "leader", m.ID, "cluster", n.advertise)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
	}
	if len(errs) == 0 {
		return errors.New("no leader known, and no other member either")
	}
	return fmt.Errorf("no leader known, and no member took this node's addresses: %w", errors.Join(errs...))
}

// httpsAdvertised is the HTTPS address other nodes and status show for this node: the
// advertised host (its port, if any, is the cluster port's) with the bound HTTPS port, else the
// bound address when its IP is specified, else the host's first non-loopback address.
func httpsAdvertised(advertise, bound string) string {
	if h, _, err := net.SplitHostPort(advertise); err == nil {
		advertise = h
	}
	a, err := advertiseAddr(advertise, bound)
	if err != nil {
		return bound
	}
	return a
}
