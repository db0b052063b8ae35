package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/blobstore/shardnet"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// Placement refresh (issue 18): the node rereads the node records often (a local read) and
// rebuilds the cluster map when they changed; it asks every disk for its free space less often.
const (
	// recordsCheck is how often the node records and the layout setting are reread.
	recordsCheck = 2 * time.Second
	// usageRefresh is how often every disk is asked for its free space (over the cluster port
	// for the other nodes' disks).
	usageRefresh = 10 * time.Second
	// silentCheck is how often the disks are asked again while another node's disks do not
	// answer: a node that was starting (its shard server not yet listening) or restarting
	// gets new shards within a second, not after usageRefresh, since a file placed meanwhile
	// is written without that node's shards (issue 18: an upload begun 3 s after a node
	// joined skipped it, and the leader's death then left too few shards to resume it).
	silentCheck = 500 * time.Millisecond
	// usageTimeout bounds one disk's answer: a node slower than that counts as down until the
	// next refresh.
	usageTimeout = 2 * time.Second
	// remoteTimeout bounds every call to another node's disk.
	remoteTimeout = 10 * time.Second
)

// layoutSetting is the cluster-wide setting naming the layout of new files.
const layoutSetting = "storage.layout"

// diskUsage is what a node learnt of one disk's free space; ok is false when the disk did not
// answer (its node down or unreachable, the disk unusable).
type diskUsage struct {
	free uint64
	ok   bool
}

// placement keeps the Store's cluster map, disk source and layout in line with the node
// records, the disks' free space and the storage.layout setting. It is the Store's
// DiskSource: the other nodes' disks through one pooled shard client.
type placement struct {
	self   string
	store  *raftfsm.Store
	local  map[blobstore.DiskID]blobstore.Disk // this node's usable disks; never changed
	client *shardnet.Client
	layout func() string // the layout setting's value now
	// failed says whether the repair probes failed a local disk (disks.go): it is down in the
	// map at once, before the node record says so. Nil: none failed.
	failed  func(blobstore.DiskID) bool
	minFree uint64
	logger  *slog.Logger
	// usageEvery is how often every disk is asked for its free space (0: usageRefresh).
	usageEvery time.Duration

	mu     sync.Mutex                                // guards remote, silent, cmap, records, layoutIs
	remote map[blobstore.DiskID]*shardnet.RemoteDisk // other nodes' disks that answered
	// silent holds the other nodes whose disks did not answer the last refresh.
	silent  map[string]bool
	cmap    blobstore.ClusterMap
	records []nodeRecord
	// layoutIs is the layout last given to the Store.
	layoutIs string

	blobs *blobstore.Store // set once by start
	stop  context.CancelFunc
	done  chan struct{}
}

var _ blobstore.DiskSource = (*placement)(nil)

// Disk implements blobstore.DiskSource: another node's disk that answered the last refresh.
func (p *placement) Disk(id blobstore.DiskID) (blobstore.Disk, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.remote[id]; ok {
		return d, nil
	}
	if d, ok := p.local[id]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w: %s is not a disk of a node that answers", blobstore.ErrDiskUnavailable, id)
}

// newPlacement asks every disk of the cluster for its free space and builds the first map.
func (n *instance) newPlacement(ctx context.Context, disks map[blobstore.DiskID]blobstore.Disk, minFree uint64) (*placement, error) {
	ccfg := shardnet.DefaultClientConfig()
	// A call carries at most 1 MiB: 10 s is generous on any LAN, and bounds how long an
	// upload waits on a node that vanished between two refreshes before counting its shard
	// as lost.
	ccfg.Timeout = remoteTimeout
	client, err := shardnet.NewClient(n.mux, ccfg)
	if err != nil {
		return nil, fmt.Errorf("shard client: %w", err)
	}
	p := &placement{
		self: n.cfg.Node.ID, store: n.store, local: disks, client: client, layout: n.layoutSetting,
		minFree: minFree, logger: n.logger.With("component", "placement"),
	}
	if err := p.refresh(ctx); err != nil {
		client.Close()
		return nil, err
	}
	return p, nil
}

// layoutSetting returns the storage.layout setting; while it was never set, the config's
// blobstore.layout (its seed, from before the layout was a cluster-wide setting).
func (n *instance) layoutSetting() string {
	if _, err := n.store.Get([]byte(settingsPrefix + layoutSetting)); errors.Is(err, raftfsm.ErrNotFound) && n.cfg.Blobstore.Layout != "" {
		return n.cfg.Blobstore.Layout
	}
	return n.setting(layoutSetting)
}

// refresh rereads the node records and asks every disk for its free space, then rebuilds the
// cluster map and the remote disks.
func (p *placement) refresh(ctx context.Context) error {
	nodes, err := nodeRecords(p.store)
	if err != nil {
		return fmt.Errorf("read the node records: %w", err)
	}
	usage := map[string]diskUsage{}
	var umu sync.Mutex
	var wg sync.WaitGroup
	for id, d := range p.local {
		if p.failed != nil && p.failed(id) {
			umu.Lock() // the goroutines of the disks before write too
			usage[string(id)] = diskUsage{}
			umu.Unlock()
			continue
		}
		wg.Go(func() {
			u, _ := askUsage(ctx, d)
			umu.Lock()
			usage[string(id)] = u
			umu.Unlock()
		})
	}
	remote := map[blobstore.DiskID]*shardnet.RemoteDisk{}
	answers := map[string]error{} // node ID → nil when its disks answered, else why not
	for _, r := range nodes {
		if r.ID == p.self || r.state() == nodeRemoved || r.state() == nodeJoining || r.Cluster == "" {
			continue
		}
		var disks []*shardnet.RemoteDisk
		for _, d := range r.Disks {
			if d.State == "" {
				disks = append(disks, p.client.RemoteDisk(r.Cluster, r.ID, blobstore.DiskID(d.ID)))
			}
		}
		// One goroutine per node, its disks in turn: a node that does not answer costs one
		// timeout, and its other disks are not asked.
		wg.Go(func() {
			got := map[string]diskUsage{}
			var silent error // why the node did not answer
			for _, d := range disks {
				u, err := askUsage(ctx, d)
				got[string(d.ID())] = u
				if err != nil && !errors.Is(err, shardnet.ErrRemote) {
					silent = err
					break // the node did not answer (a refusal of one disk is its answer)
				}
			}
			umu.Lock()
			defer umu.Unlock()
			if len(disks) > 0 {
				answers[r.ID] = silent
			}
			for id, u := range got {
				usage[id] = u
				if u.ok {
					for _, d := range disks {
						if string(d.ID()) == id {
							remote[d.ID()] = d
						}
					}
				}
			}
		})
	}
	wg.Wait()
	cm := clusterMap(nodes, p.self, usage)
	p.mu.Lock()
	p.remote, p.cmap, p.records = remote, cm, nodes
	was := p.silent
	p.silent = map[string]bool{}
	for id, err := range answers {
		if err != nil {
			p.silent[id] = true
		}
	}
	p.mu.Unlock()
	for id, err := range answers {
		switch {
		case err != nil && !was[id]:
			p.logger.Warn("a node's disks do not answer: no new shard goes there until they do", logkey.NodeID, id, logkey.Err, err)
		case err == nil && was[id]:
			p.logger.Info("a node's disks answer again", logkey.NodeID, id)
		}
	}
	return nil
}

// askUsage asks a disk for its free space within usageTimeout.
func askUsage(ctx context.Context, d blobstore.Disk) (diskUsage, error) {
	ctx, cancel := context.WithTimeout(ctx, usageTimeout)
	defer cancel()
	_, free, err := d.Usage(ctx)
	return diskUsage{free: free, ok: err == nil}, err
}

// apply gives the Store the current map and layout.
func (p *placement) apply() {
	p.mu.Lock()
	cm := p.cmap
	p.mu.Unlock()
	p.blobs.SetClusterMap(cm)
	layout := p.layout()
	p.mu.Lock()
	changed := layout != p.layoutIs
	p.mu.Unlock()
	if !changed {
		return
	}
	if err := p.blobs.SetLayout(layout); err != nil {
		p.logger.Error("the storage.layout setting is not a layout: new files keep the previous one", "layout", layout, logkey.Err, err)
		return
	}
	p.mu.Lock()
	p.layoutIs = layout
	p.mu.Unlock()
	if plan, err := p.blobs.Plan(); err != nil {
		p.logger.Error("the layout cannot be placed on this cluster: uploads fail until it can", "layout", layout, logkey.Err, err)
	} else {
		p.logger.Info("layout for new files", "layout", plan.Layout.String(), "plan", plan.String())
	}
}

// checkSetting refuses, at settings set, a value that is well formed but that the cluster
// cannot use now: a layout that cannot survive its failure domain.
func (n *instance) checkSetting(key, value string) error {
	if key != layoutSetting || n.placement == nil {
		return nil
	}
	return n.placement.check(value)
}

// check says why layout cannot be used on the cluster as it is now (nil when it can).
func (p *placement) check(layout string) error {
	p.mu.Lock()
	cm := p.cmap
	p.mu.Unlock()
	if _, err := blobstore.PlanLayout(cm, layout, blobstore.FailureAuto, p.minFree); err != nil {
		// The sentence after blobstore's prefix is for the operator.
		return errors.New(strings.TrimPrefix(err.Error(), blobstore.ErrNoLayout.Error()+": "))
	}
	return nil
}

// start gives the Store its map and layout, then keeps them current until close.
func (p *placement) start(blobs *blobstore.Store) {
	p.blobs = blobs
	p.apply()
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go p.run(ctx)
}

func (p *placement) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(silentCheck)
	defer t.Stop()
	last, checked := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		silent := len(p.silent) > 0
		p.mu.Unlock()
		if !silent && time.Since(checked) < recordsCheck {
			continue
		}
		checked = time.Now()
		nodes, err := nodeRecords(p.store)
		p.mu.Lock()
		changed := err == nil && !reflect.DeepEqual(nodes, p.records)
		p.mu.Unlock()
		if changed || silent || time.Since(last) >= cmp.Or(p.usageEvery, usageRefresh) {
			if err := p.refresh(ctx); err != nil {
				p.logger.Warn("refresh the cluster map", logkey.Err, err)
			}
			last = time.Now()
		}
		p.apply()
	}
}

// close stops the refresh and the shard client.
func (p *placement) close() error {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	return p.client.Close()
}

// update rereads the records and the disks now and gives the Store the new map; it returns
// the map. For changes that must take effect at once (a failed disk, a drain).
func (p *placement) update(ctx context.Context) blobstore.ClusterMap {
	if err := p.refresh(ctx); err != nil {
		p.logger.Warn("refresh the cluster map", logkey.Err, err)
	}
	p.apply()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmap
}

// status returns, for `status`, the layout new files get and every disk of the map.
func (p *placement) status() (adminapi.LayoutInfo, []adminapi.ClusterDisk) {
	var li adminapi.LayoutInfo
	if plan, err := p.plan(); err != nil {
		li.Summary = err.Error()
	} else {
		li = adminapi.LayoutInfo{
			Layout: plan.Layout.String(), Auto: plan.Auto, FailureDomain: plan.Domain.String(),
			Domains: plan.Domains, PerDomain: plan.PerDomain,
			ReadsSurvive: plan.ReadsSurvive, WritesSurvive: plan.WritesSurvive, Summary: plan.String(),
		}
	}
	disks := []adminapi.ClusterDisk{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.cmap.Sites {
		for _, n := range s.Nodes {
			for _, d := range n.Disks {
				disks = append(disks, adminapi.ClusterDisk{Node: string(n.ID), Site: string(s.ID), ID: string(d.ID), FreeBytes: d.FreeBytes, State: d.State.String()})
			}
		}
	}
	return li, disks
}

// plan returns the layout new files get and what it survives, for status.
func (p *placement) plan() (blobstore.LayoutPlan, error) { return p.blobs.Plan() }
