package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/logkey"
	"valise/raftfsm"
	"valise/transfer"
)

// The repair jobs: heal (the cheap pass, Check, then Heal of what is degraded), scrub (every
// piece of every file read and checked, then healed), drain (every shard off a node's disks)
// and rebalance (old files to the current layout, rebalance.go). One job runs at a time on the leader: they share the disks. See docs/design.md,
// rows heal, scrub, cluster remove and leave.

// repairTick is how often the repair loop looks at its schedule, probes the local disks and
// publishes disk changes.
const repairTick = time.Minute

// maxFailures bounds the failed files a job names in its report.
const maxFailures = 20

// keyRepairLast holds the last finished run of each job: repair/last/<job>, so the scrub
// schedule survives restarts and leader changes.
const keyRepairLast = "repair/last/"

// repairer runs the repair jobs and keeps what status shows of them: the degraded files, the
// job running, the last runs, the disks found failed.
type repairer struct {
	n      *instance    // never nil
	bucket *tokenBucket // heal.bandwidth; never nil
	kick   chan string  // a trigger asks the loop for a heal now (disk replaced, failed)
	probe  diskProbe    // the disk probes' state

	markKick  chan struct{} // wakes the publisher of degraded marks (degraded.go)
	probeKick chan struct{} // a local disk call failed: probe now (diskwatch.go)
	marksMu   sync.Mutex    // serialises publishing and clearing the degraded marks

	mu       sync.Mutex                      // guards the fields below
	run      *jobRun                         // the job running; nil when none
	last     map[string]adminapi.JobProgress // the last finished run of each job
	degraded map[blobstore.FileID]time.Time  // files heal still has to repair, since when
	failed   map[blobstore.DiskID]string     // local disks found failed while serving: why
	pending  []diskChange                    // disk changes not yet in the node record
	closed   bool                            // stop was called: no new job
	wg       sync.WaitGroup                  // the loop and the running job
	ctx      context.Context                 // cancelled by stop
	cancel   context.CancelFunc
}

// newRepairer returns the repairer of n, not started.
func newRepairer(n *instance) *repairer {
	r := &repairer{
		n:        n,
		bucket:   newTokenBucket(time.Now, sleepCtx),
		kick:     make(chan string, 4),
		last:     map[string]adminapi.JobProgress{},
		degraded: map[blobstore.FileID]time.Time{},
		failed:   map[blobstore.DiskID]string{},
	}
	r.markKick, r.probeKick = make(chan struct{}, 1), make(chan struct{}, 1)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// jobRun is one run of a job.
type jobRun struct {
	job     string
	trigger string
	node    string             // drain: the node drained
	avoid   []blobstore.DiskID // disks no shard may stay on
	started time.Time
	done    chan struct{} // closed when the run ended; prog is then final

	mu       sync.Mutex // guards prog, seq and watchers
	prog     adminapi.JobProgress
	seq      uint64 // bumped on every change of prog
	watchers int    // admin calls that followed the run
}

// progress returns a copy of the run's progress with its ETA, and its change counter.
func (j *jobRun) progress() (adminapi.JobProgress, uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := j.prog
	p.Failures = slices.Clone(p.Failures)
	p.ETASeconds = -1
	if p.Running && p.BytesDone > 0 && p.BytesTotal >= p.BytesDone {
		el := time.Since(j.started).Seconds()
		p.ETASeconds = int64(math.Ceil(el / float64(p.BytesDone) * float64(p.BytesTotal-p.BytesDone)))
	} else if p.Running && p.FilesTotal > 0 && p.FilesDone == p.FilesTotal {
		p.ETASeconds = 0
	}
	return p, j.seq
}

// update changes the run's progress under its lock.
func (j *jobRun) update(fn func(p *adminapi.JobProgress)) {
	j.mu.Lock()
	fn(&j.prog)
	j.seq++
	j.mu.Unlock()
}

// startRepair starts the repair loop (schedule, disk probes, disk records); stop ends it and
// any job running before the stores close.
func (n *instance) startRepair() {
	r := n.repair
	n.blobs.SetHealNeeded(r.markDegraded)
	r.reviveDisks()
	r.refreshMap(n.bgCtx) // draining nodes, failed and retired disks out of placement
	r.wg.Add(1)
	go r.loop()
	r.startMarks()
	r.startProbeWatch()
	n.onStop("repair jobs", func(context.Context) error {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.cancel()
		r.wg.Wait()
		n.blobs.SetHealNeeded(nil)
		return nil
	})
}

// markDegraded records that file id has to be healed (blobstore's SetHealNeeded function).
func (r *repairer) markDegraded(id blobstore.FileID) {
	r.mu.Lock()
	if _, ok := r.degraded[id]; !ok {
		r.degraded[id] = time.Now()
	}
	r.mu.Unlock()
	r.wakeMarks()
}

func (r *repairer) clearDegraded(id blobstore.FileID) {
	r.mu.Lock()
	delete(r.degraded, id)
	r.mu.Unlock()
}

func (r *repairer) isDegraded(id blobstore.FileID) bool {
	r.mu.Lock()
	_, ok := r.degraded[id]
	r.mu.Unlock()
	return ok || r.sharedMark(id) != 0
}

// statusInto fills status's degraded count and job fields.
func (r *repairer) statusInto(st *adminapi.Status) {
	shared := r.sharedMarks() // degraded.go
	r.mu.Lock()
	st.DegradedFiles = int64(len(shared))
	for id := range r.degraded {
		if _, ok := shared[id]; !ok {
			st.DegradedFiles++
		}
	}
	run := r.run
	last := map[string]adminapi.JobProgress{}
	for k, v := range r.last {
		last[k] = v
	}
	r.mu.Unlock()
	if run != nil {
		p, _ := run.progress()
		last[run.job] = p
	}
	for job, dst := range map[string]**adminapi.JobProgress{adminapi.JobHeal: &st.Heal, adminapi.JobScrub: &st.Scrub, adminapi.JobDrain: &st.Drain, adminapi.JobRebalance: &st.Rebalance} {
		if p, ok := last[job]; ok {
			*dst = &p
		}
	}
}

// loop runs the schedule on the leader, probes the local disks and publishes disk changes,
// every repairTick or when kicked, until stop.
func (r *repairer) loop() {
	defer r.wg.Done()
	n := r.n
	if _, err := n.store.WaitLeader(r.ctx); err != nil {
		return
	}
	t := time.NewTicker(repairTick)
	defer t.Stop()
	trigger := "start"
	for {
		if r.probeDisks(r.ctx) {
			trigger = "disk failed"
		}
		if t := r.publishDisks(r.ctx); t != "" {
			trigger = t
		}
		if n.store.Status().State.IsLeader() {
			r.schedule(trigger)
		}
		select {
		case <-r.ctx.Done():
			return
		case trigger = <-r.kick:
		case <-t.C:
			trigger = "schedule"
		}
	}
}

// schedule starts the job that is due, if none runs: a drain left unfinished, a heal asked
// for by trigger or due by heal.interval, a scrub due by scrub.interval.
func (r *repairer) schedule(trigger string) {
	n := r.n
	if nodes, err := nodeRecords(n.store); err == nil {
		for _, rec := range nodes {
			if rec.state() == nodeDraining {
				if _, err := r.start(adminapi.JobDrain, "drain "+rec.ID, rec.ID); err == nil || !isConflict(err) {
					return
				}
			}
		}
	}
	now := time.Now()
	due := func(job, setting string) bool {
		d, _ := parseInterval(n.setting(setting))
		if d == 0 {
			return false
		}
		last, ok := r.lastFinished(job)
		return !ok || now.Sub(last) >= d
	}
	switch {
	case trigger != "schedule" && trigger != "start":
		r.start(adminapi.JobHeal, trigger, "")
	case due(adminapi.JobHeal, "heal.interval") || trigger == "start" && n.setting("heal.interval") != "0":
		if trigger == "start" {
			trigger = "node start"
		}
		r.start(adminapi.JobHeal, trigger, "")
	case due(adminapi.JobScrub, "scrub.interval"):
		r.start(adminapi.JobScrub, "schedule", "")
	}
}

// lastFinished returns when job last finished, from memory or the metadata.
func (r *repairer) lastFinished(job string) (time.Time, bool) {
	r.mu.Lock()
	p, ok := r.last[job]
	r.mu.Unlock()
	if !ok {
		if err := getJSON(r.n.store, keyRepairLast+job, &p); err != nil {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(time.RFC3339, p.Finished)
	return t, err == nil
}

// isConflict reports an *adminapi.Error of code conflict (another job runs).
func isConflict(err error) bool {
	var e *adminapi.Error
	return errors.As(err, &e) && e.Code == adminapi.CodeConflict
}

// start runs job now, or returns the run of the same job already running (a drain of the
// same node); another job running is refused with CodeConflict.
func (r *repairer) start(job, trigger, node string) (*jobRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, adminapi.Errorf(adminapi.CodeUnavailable, "the node is stopping")
	}
	if run := r.run; run != nil {
		if run.job == job && run.node == node {
			return run, nil
		}
		return nil, run.busyError()
	}
	run := &jobRun{job: job, trigger: trigger, node: node, started: time.Now(), done: make(chan struct{})}
	run.prog = adminapi.JobProgress{Job: job, Trigger: trigger, Running: true, Started: run.started.UTC().Format(time.RFC3339), ETASeconds: -1}
	r.run = run
	r.wg.Add(1)
	go r.execute(run)
	return run, nil
}

// busy returns the CodeConflict error of start when another job than job (of node) runs.
func (r *repairer) busy(job, node string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if run := r.run; run != nil && (run.job != job || run.node != node) {
		return run.busyError()
	}
	return nil
}

// busyError is the sentence refusing another job while run runs.
func (run *jobRun) busyError() error {
	p, _ := run.progress()
	what := run.job
	if run.node != "" {
		what += " of node " + run.node
	}
	return adminapi.Errorf(adminapi.CodeConflict, "a %s is running (%d of %d files done): wait for it to end, then run this again", what, p.FilesDone, p.FilesTotal)
}

// watch reports run's progress to progress about once a second until it ends, and returns
// its final report. The run goes on when ctx ends.
func (r *repairer) watch(ctx context.Context, run *jobRun, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	run.mu.Lock()
	run.watchers++
	run.mu.Unlock()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	p, sent := run.progress()
	progress(p)
	for {
		select {
		case <-run.done:
			p, _ := run.progress()
			return p, nil
		case <-ctx.Done():
			return adminapi.JobProgress{}, ctx.Err()
		case <-t.C:
			if p, seq := run.progress(); seq != sent {
				sent = seq
				progress(p)
			}
		}
	}
}

// repairItem is one stored file the jobs walk.
type repairItem struct {
	id       blobstore.FileID
	m        blobstore.Manifest
	version  uint64 // its record's version, for the conditional commit
	selftest bool   // a selftest record, else a transfer file
}

// collect returns every stored file: the transfer files and the selftest files.
func (r *repairer) collect() ([]repairItem, error) {
	var out []repairItem
	err := scanManifests(r.n.store, func(sm storedManifest) error {
		var m blobstore.Manifest
		if err := m.UnmarshalBinary(sm.raw); err != nil || len(m.WrappedKey) == 0 {
			return nil // not a readable manifest, or a shredded one: nothing to heal
		}
		out = append(out, repairItem{id: blobstore.FileID(sm.id), m: m, version: sm.version, selftest: sm.selftest})
		return nil
	})
	return out, err
}

// execute runs job to its end and records it.
func (r *repairer) execute(run *jobRun) {
	defer r.wg.Done()
	n := r.n
	ctx := r.ctx
	var err error
	defer func() {
		run.update(func(p *adminapi.JobProgress) {
			p.Running, p.Done = false, true
			p.Finished = time.Now().UTC().Format(time.RFC3339)
			if err != nil {
				p.Error = err.Error()
			}
		})
		final, _ := run.progress()
		r.mu.Lock()
		r.run = nil
		r.last[run.job] = final
		r.mu.Unlock()
		close(run.done)
		n.logger.Info("repair job done", "job", run.job, "trigger", run.trigger, "files", final.FilesDone,
			"repaired", final.Repaired, "moved", final.Moved, "failed", final.Failed, "error", final.Error)
		if ctx.Err() == nil {
			r.recordLast(final)
		}
	}()
	if r.probeDisks(ctx) {
		select {
		case r.kick <- "disk failed": // the loop records it in the node record
		default:
		}
	}
	run.avoid = r.failedDisks()
	if run.job == adminapi.JobDrain {
		var disks []blobstore.DiskID
		if disks, err = r.drainDisks(run.node); err != nil {
			return
		}
		run.avoid = append(run.avoid, disks...)
	}
	if run.job == adminapi.JobRebalance {
		if err = r.rebalanceStart(ctx); err != nil {
			return
		}
	}
	items, err := r.collect()
	if err != nil {
		return
	}
	seen := map[blobstore.FileID]bool{}
	var total int64
	for _, it := range items {
		total += it.m.Size
		seen[it.m.FileID] = true // the degraded files are named by their blobstore ID
	}
	run.update(func(p *adminapi.JobProgress) { p.FilesTotal, p.BytesTotal = int64(len(items)), total })
	n.logger.Info("repair job started", "job", run.job, "trigger", run.trigger, "files", len(items), "bytes", total)
	for _, it := range items {
		if err = ctx.Err(); err != nil {
			err = errors.New("stopped: the node is stopping (the next run starts over)")
			return
		}
		if run.job != adminapi.JobRebalance {
			r.repairOne(ctx, run, it)
		} else if err = r.rebalanceOne(ctx, run, it); err != nil {
			return
		}
	}
	if run.job != adminapi.JobDrain {
		// Files marked before this run and not stored any more were deleted meanwhile.
		r.mu.Lock()
		for id, since := range r.degraded {
			if !seen[id] && since.Before(run.started) {
				delete(r.degraded, id)
			}
		}
		r.mu.Unlock()
		r.clearGoneMarks(ctx, seen, run.started)
		return
	}
	final, _ := run.progress()
	if final.Failed > 0 {
		err = fmt.Errorf("%d files still have shards on node %s: the node stays draining; fix what the failures say and run the command again", final.Failed, run.node)
		return
	}
	err = r.finishDrain(ctx, run.node)
}

// repairOne checks (and heals when needed) one file, commits its new manifest when a shard
// moved, and counts it.
func (r *repairer) repairOne(ctx context.Context, run *jobRun, it repairItem) {
	n := r.n
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		if gone, changed := r.changed(it); gone || changed {
			// Deleted or rewritten while the job looked at it: not a failure; a rewritten
			// file stays marked for the next run.
			if gone {
				r.clearDegraded(it.m.FileID)
			}
			return
		}
		r.markDegraded(it.m.FileID)
		n.logger.Error("repair: file not repaired", "job", run.job, logFileID, it.id, logkey.Err, err)
		run.update(func(p *adminapi.JobProgress) {
			p.Failed++
			if len(p.Failures) < maxFailures {
				p.Failures = append(p.Failures, fmt.Sprintf("%s: %v", it.id, err))
			}
		})
	}
	defer run.update(func(p *adminapi.JobProgress) { p.FilesDone++; p.BytesDone += it.m.Size })
	if run.job != adminapi.JobScrub {
		bad, err := n.blobs.Check(ctx, it.m, run.avoid)
		if err != nil {
			fail(err)
			return
		}
		if len(bad) == 0 && !r.isDegraded(it.m.FileID) {
			return
		}
	}
	r.bucket.setRate(n.healBandwidth())
	if err := r.bucket.take(ctx, it.m.Size); err != nil {
		return
	}
	out, rep, err := n.blobs.HealAvoiding(ctx, it.m, run.avoid)
	if err != nil {
		fail(err)
		return
	}
	if !slices.Equal(out.Shards, it.m.Shards) {
		if err := r.commit(ctx, it, out, run.job); err != nil {
			if errors.Is(err, transfer.ErrFileChanged) || errors.Is(err, transfer.ErrFileNotFound) || errors.Is(err, raftfsm.ErrConflict) {
				// Changed or deleted meanwhile: the next run looks at it again.
				n.logger.Info("repair: file changed while healed; left for the next run", logFileID, it.id, logkey.Err, err)
				return
			}
			fail(fmt.Errorf("record the new manifest: %w", err))
			return
		}
	}
	r.clearMarks(ctx, it.m.FileID, time.Now()) // degraded.go; marks name the blobstore ID
	if len(rep.Bad) > 0 || len(rep.Moved) > 0 {
		run.update(func(p *adminapi.JobProgress) {
			p.Repaired++
			if len(rep.Moved) > 0 {
				p.Moved++
			}
		})
	}
}

// changed reports whether it's record is gone, or at another version than the job read.
func (r *repairer) changed(it repairItem) (gone, changed bool) {
	var ver uint64
	var err error
	if it.selftest {
		var cur raftfsm.Item
		cur, err = r.n.store.Get([]byte(prefixSelftest + string(it.id)))
		ver = cur.Version
	} else {
		var f transfer.File
		f, err = r.n.transfers.FileRecord(transfer.FileID(it.id))
		ver = f.Version
	}
	if errors.Is(err, raftfsm.ErrNotFound) || errors.Is(err, transfer.ErrFileNotFound) {
		return true, false
	}
	return false, err == nil && ver != it.version
}

// commit records the new manifest of a healed file through Raft, if its record is still at
// the version the job read.
func (r *repairer) commit(ctx context.Context, it repairItem, out blobstore.Manifest, job string) error {
	b, err := out.MarshalBinary()
	if err != nil {
		return err
	}
	if !it.selftest {
		_, err := r.n.transfers.ReplaceManifest(ctx, transfer.FileID(it.id), it.version, b, job)
		return err
	}
	key := []byte(prefixSelftest + string(it.id))
	cur, err := r.n.store.Get(key)
	if err != nil {
		return err
	}
	if cur.Version != it.version {
		return fmt.Errorf("%w: selftest %s changed", raftfsm.ErrConflict, it.id)
	}
	var rec selftestRecord
	if err := json.Unmarshal(cur.Value, &rec); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	rec.Manifest = b
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	details, _ := json.Marshal(map[string]string{"reason": job})
	_, err = r.n.store.Propose(ctx, raftfsm.Batch{
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: key, Version: it.version}},
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: key, Value: v}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "selftest.heal", Target: string(it.id), Details: details},
	})
	return err
}

// recordLast stores the finished run in the metadata (repair/last/<job>), best effort.
func (r *repairer) recordLast(p adminapi.JobProgress) {
	p.Failures = nil
	b, err := json.Marshal(p)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	_, err = r.n.store.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(keyRepairLast + p.Job), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "system", Action: "repair." + p.Job, Target: p.Trigger, Details: b},
	})
	if err != nil && r.ctx.Err() == nil {
		r.n.logger.Warn("record the repair run", "job", p.Job, logkey.Err, err)
	}
}

// Repair implements adminapi.RepairService: heal, scrub or rebalance now, on the leader.
func (s *adminService) Repair(ctx context.Context, job string, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
	if job != adminapi.JobHeal && job != adminapi.JobScrub && job != adminapi.JobRebalance {
		return adminapi.JobProgress{}, adminapi.Errorf(adminapi.CodeBadRequest, "unknown job %q", job)
	}
	if err := s.leader(); err != nil {
		return adminapi.JobProgress{}, err
	}
	run, err := s.n.repair.start(job, "admin", "")
	if err != nil {
		return adminapi.JobProgress{}, err
	}
	return s.n.repair.watch(ctx, run, progress)
}

// healBandwidth returns heal.bandwidth in bytes per second, 0 for unlimited.
func (n *instance) healBandwidth() int64 {
	b, err := parseBandwidth(n.setting("heal.bandwidth"))
	if err != nil {
		return 0
	}
	return b
}

// parseInterval parses heal.interval and scrub.interval: a Go duration of at least a minute,
// or "0" for never.
func parseInterval(v string) (time.Duration, error) {
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute || d > 10000*time.Hour {
		return 0, fmt.Errorf("%q is not an interval: want a duration from 1m to 10000h such as 1h, 30m or 168h, or 0 for never", v)
	}
	return d, nil
}

func validInterval(v string) error { _, err := parseInterval(v); return err }

// minBandwidth is the lowest heal.bandwidth accepted, bytes per second: below it a heal
// would take days.
const minBandwidth = 1_000_000

// parseBandwidth parses heal.bandwidth: "0" (unlimited) or a rate such as "50MB/s",
// "512KiB/s" or "1.5GB" (the "/s" is optional; K, M, G are powers of 1000, Ki, Mi, Gi of
// 1024; a plain number is bytes). It returns bytes per second.
func parseBandwidth(v string) (int64, error) {
	s := strings.TrimSpace(v)
	bad := func() (int64, error) {
		return 0, fmt.Errorf("%q is not a bandwidth: want bytes per second such as 50MB/s, 512KiB/s or 0 for unlimited", v)
	}
	if s == "0" {
		return 0, nil
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "ps")
	i := strings.IndexFunc(s, func(c rune) bool { return (c < '0' || c > '9') && c != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult := map[string]float64{
		"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
		"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
	}[strings.ToLower(unit)]
	f, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || num == "" || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return bad()
	}
	b := f * mult
	if b == 0 {
		return 0, nil
	}
	if b < minBandwidth || b > 1e12 {
		return 0, fmt.Errorf("%q is out of range: a bandwidth is 0 (unlimited) or from 1MB/s to 1000GB/s", v)
	}
	return int64(b), nil
}

func validBandwidth(v string) error { _, err := parseBandwidth(v); return err }

// tokenBucket limits the bytes heal and scrub read per second. take charges a file's bytes
// before it is healed and waits for the debt to be paid back: the rate is kept on average
// over files, with bursts of up to one second's worth (at least 1 MiB).
type tokenBucket struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex // guards rate, tokens, last
	rate   float64    // bytes per second; 0: unlimited
	tokens float64    // may go negative: the debt of the last take
	last   time.Time
}

func newTokenBucket(now func() time.Time, sleep func(context.Context, time.Duration) error) *tokenBucket {
	return &tokenBucket{now: now, sleep: sleep}
}

func (b *tokenBucket) burst() float64 { return max(b.rate, 1<<20) }

// setRate sets the rate in bytes per second; 0 lifts the limit.
func (b *tokenBucket) setRate(rate int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := float64(max(rate, 0))
	if r == b.rate {
		return
	}
	if b.rate == 0 {
		b.tokens, b.last = max(r, 1<<20), b.now()
	}
	b.rate = r
	b.tokens = min(b.tokens, b.burst())
}

// take charges n bytes and waits until the bucket is back in credit; an error only when ctx
// ends first.
func (b *tokenBucket) take(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.rate == 0 {
		b.mu.Unlock()
		return nil
	}
	now := b.now()
	b.tokens = min(b.burst(), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	var wait time.Duration
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	return b.sleep(ctx, wait)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
