package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
	"valise/blobstore"
	"valise/internal/poll"
	"valise/raftfsm"
)

// healNode is a node served in process for the repair tests, over real disk directories.
type healNode struct {
	t    *testing.T
	cfg  Config
	c    *adminapi.Client
	n    *instance
	stop func()
	// prepare, when set, is called with the instance before it runs (backup_test.go sets the
	// backup schedule's clock).
	prepare func(*instance)
}

// newHealNode initialises a node with disks disk directories and the given layout (small
// blocks, so small files span many stripes), and serves it. The scanner is a clamd address
// that refuses at once: these tests need no verdicts.
func newHealNode(t *testing.T, disks int, layout string) *healNode {
	t.Helper()
	h := initHealNode(t, disks, layout)
	h.serve()
	return h
}

// initHealNode is newHealNode without serving: the caller sets h.prepare, then calls serve.
// An empty layout keeps the configuration's.
func initHealNode(t *testing.T, disks int, layout string) *healNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(shortDir(t), "h.sock")
	_, err := Init(t.Context(), InitOptions{
		DataDir: dir, Disks: disks, AdminEmail: "root@example.org",
		Listen: "127.0.0.1:0", ClusterListen: "127.0.0.1:0", AdminSocket: sock, Raft: &fastRaft,
		Settings: map[string]string{"clamd.address": "tcp:127.0.0.1:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFileName), dir)
	if err != nil {
		t.Fatal(err)
	}
	if layout != "" {
		cfg.Blobstore.Layout = layout
	}
	cfg.Blobstore.BlockSize = 4 << 10
	h := &healNode{t: t, cfg: cfg, c: adminapi.NewClient(sock)}
	t.Cleanup(h.c.Close)
	t.Cleanup(func() {
		if h.stop != nil {
			h.stop()
		}
	})
	return h
}

// serve runs the node until h.stop, waiting for it to lead.
func (h *healNode) serve() {
	t := h.t
	t.Helper()
	n, err := newInstance(h.cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	if h.prepare != nil {
		h.prepare(n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.run(ctx) }()
	poll.UntilNil(t, "the node leading", func() error {
		st, err := h.c.Status(t.Context())
		if err != nil {
			return err
		}
		if st.Raft.State != "Leader" {
			return errors.New(st.Raft.State)
		}
		return nil
	})
	h.n = n
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		h.stop = nil
	}
}

// keep writes a kept selftest file of size bytes and returns its ID.
func (h *healNode) keep(size int64) string {
	h.t.Helper()
	r, err := h.c.Selftest(h.t.Context(), adminapi.SelftestRequest{Size: size, Keep: true}, nil)
	if err != nil || !r.OK {
		h.t.Fatalf("selftest = %+v, %v", r, err)
	}
	return r.ID
}

// verify reads kept file id back and checks its SHA-256 (the selftest's verify), keeping it.
func (h *healNode) verify(id string) {
	h.t.Helper()
	r, err := h.c.Selftest(h.t.Context(), adminapi.SelftestRequest{VerifyID: id, Keep: true}, nil)
	if err != nil || !r.OK {
		h.t.Fatalf("verify %s = %+v, %v", id, r, err)
	}
}

// shard returns the path of shard i of file id.
func (h *healNode) shard(id string, i int) string {
	h.t.Helper()
	for _, p := range h.cfg.DiskPaths() {
		m, _ := filepath.Glob(filepath.Join(p, "shards", "*", fmt.Sprintf("%s.%d.shard", id, i)))
		if len(m) == 1 {
			return m[0]
		}
	}
	h.t.Fatalf("no shard %d of %s", i, id)
	return ""
}

func (h *healNode) status() adminapi.Status {
	h.t.Helper()
	st, err := h.c.Status(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// run runs a heal or scrub through the admin API and checks it ended without failures.
func (h *healNode) run(job string) adminapi.JobProgress {
	h.t.Helper()
	call := h.c.Heal
	if job == adminapi.JobScrub {
		call = h.c.Scrub
	}
	lines := 0
	p, err := call(h.t.Context(), func(adminapi.JobProgress) { lines++ })
	if err != nil || !p.Done || p.Failed != 0 || p.Error != "" || lines == 0 {
		h.t.Fatalf("%s = %+v (%d progress lines), %v", job, p, lines, err)
	}
	if p.FilesDone != p.FilesTotal || p.BytesDone != p.BytesTotal {
		h.t.Fatalf("%s ended at %d/%d files, %d/%d bytes", job, p.FilesDone, p.FilesTotal, p.BytesDone, p.BytesTotal)
	}
	return p
}

func flipBytes(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := 600; off < len(b); off += 97 {
		b[off] ^= 0x40
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipByte flips one bit of the byte at off.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	must(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, off)
	must(t, err)
}

func truncateHalf(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestHealAndScrub damages shard files on real disk directories (deleted, truncated, bytes
// flipped, up to m per file): every file reads back bit-exact, heal repairs what it can see
// and brings degraded_files back to 0, scrub finds and repairs the bit rot heal cannot see;
// then a disk directory deleted while serving is failed and healed around.
func TestHealAndScrub(t *testing.T) {
	h := newHealNode(t, 7, "4+2")
	ids := []string{h.keep(150_000), h.keep(90_001), h.keep(40_000)}
	h.run(adminapi.JobHeal) // a healthy cluster: nothing to do
	if st := h.status(); st.DegradedFiles != 0 || st.Heal == nil || st.Heal.Repaired != 0 {
		t.Fatalf("status after healing healthy files: degraded %d, heal %+v", st.DegradedFiles, st.Heal)
	}

	// File 0: a data shard deleted and one truncated; file 1: a data shard's bytes flipped
	// (a read finds it); file 2: a parity shard's bytes flipped (only scrub finds it).
	must(t, os.Remove(h.shard(ids[0], 0)))
	truncateHalf(t, h.shard(ids[0], 3))
	flipBytes(t, h.shard(ids[1], 1))
	flipByte(t, h.shard(ids[2], 5), 4096+300) // inside stripe 0's piece, not the last one
	for _, id := range ids {
		h.verify(id)
	}
	if st := h.status(); st.DegradedFiles != 2 {
		t.Fatalf("degraded_files after degraded reads = %d, want 2", st.DegradedFiles)
	}
	p := h.run(adminapi.JobHeal)
	if p.Repaired != 2 || p.FilesTotal != 3 || p.Trigger != "admin" {
		t.Fatalf("heal repaired %d of %d files (trigger %q), want 2 of 3", p.Repaired, p.FilesTotal, p.Trigger)
	}
	if st := h.status(); st.DegradedFiles != 0 {
		t.Fatalf("degraded_files after heal = %d", st.DegradedFiles)
	}
	for _, id := range ids {
		h.verify(id)
	}
	if p := h.run(adminapi.JobScrub); p.Repaired != 1 {
		t.Fatalf("scrub repaired %d files, want 1 (the parity bit rot)", p.Repaired)
	}
	if p := h.run(adminapi.JobScrub); p.Repaired != 0 {
		t.Fatalf("a second scrub repaired %d files, want 0", p.Repaired)
	}
	if st := h.status(); st.Scrub == nil || !st.Scrub.Done || st.DegradedFiles != 0 {
		t.Fatalf("status after scrub: %+v, degraded %d", st.Scrub, st.DegradedFiles)
	}

	t.Run("disk deleted while serving", func(t *testing.T) {
		victim := filepath.Dir(filepath.Dir(filepath.Dir(h.shard(ids[0], 2))))
		marker, err := readDiskMarker(victim)
		must(t, err)
		must(t, os.RemoveAll(victim))
		for _, id := range ids {
			h.verify(id)
		}
		p := h.run(adminapi.JobHeal)
		if p.Moved == 0 {
			t.Fatalf("heal after a disk was deleted moved nothing: %+v", p)
		}
		for _, id := range ids {
			h.verify(id)
			for i := range 6 {
				if strings.HasPrefix(h.shard(id, i), victim+string(filepath.Separator)) {
					t.Fatalf("shard %d of %s still on the deleted disk", i, id)
				}
			}
		}
		st := h.status()
		failed := 0
		for _, d := range st.Disks {
			if d.Path == victim && strings.HasPrefix(d.State, "failed: ") {
				failed++
			}
		}
		if failed != 1 || st.DegradedFiles != 0 {
			t.Fatalf("status disks %+v, degraded %d: want %s failed, 0 degraded", st.Disks, st.DegradedFiles, victim)
		}
		poll.UntilNil(t, "the node record saying the disk failed", func() error {
			return diskRecordState(h.n, victim, diskFailed)
		})

		// The disk comes back with its marker (it was only unmounted): at the next start it
		// serves again, and the files still read.
		h.stop()
		must(t, os.Mkdir(victim, 0o700))
		must(t, writeDiskMarker(victim, marker))
		h.serve()
		poll.UntilNil(t, "the node record saying the disk serves again", func() error {
			return diskRecordState(h.n, victim, "")
		})
		for _, d := range h.status().Disks {
			if d.State != "ok" {
				t.Fatalf("disk %s is %q after it came back", d.Path, d.State)
			}
		}
		for _, id := range ids {
			h.verify(id)
		}
	})
}

// diskRecordState checks that this node's record lists a disk at path in state.
func diskRecordState(n *instance, path, state string) error {
	nodes, err := nodeRecords(n.store)
	if err != nil {
		return err
	}
	for _, r := range nodes {
		for _, d := range r.Disks {
			if r.ID == n.cfg.Node.ID && d.Path == path && d.State == state {
				return nil
			}
		}
	}
	return fmt.Errorf("no disk at %s in state %q in %+v", path, state, nodes)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReplacedDisk stops a node, replaces a disk with an empty directory and restarts it:
// the disk gets a new ID and marker, the node record retires the old one and lists the new
// one, heal refills it on its own, and every file reads back.
func TestReplacedDisk(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	ids := []string{h.keep(120_000), h.keep(33_333)}
	h.stop()
	victim := h.cfg.DiskPaths()[2]
	old, err := readDiskMarker(victim)
	must(t, err)
	must(t, os.RemoveAll(victim))
	must(t, os.Mkdir(victim, 0o700))
	h.serve()

	m, err := readDiskMarker(victim)
	if err != nil || m.DiskID == old.DiskID || m.ClusterID != old.ClusterID || m.NodeID != old.NodeID {
		t.Fatalf("marker of the replacement disk %+v, %v (old %+v)", m, err, old)
	}
	poll.UntilNil(t, "the old disk retired in the node record", func() error { return diskRecordState(h.n, victim, diskRetired) })
	poll.UntilNil(t, "the new disk in the node record", func() error { return diskRecordState(h.n, victim, "") })
	poll.UntilNil(t, "heal refilling the new disk", func() error {
		st := h.status()
		if st.Heal == nil || st.Heal.Trigger != "disk replaced" || !st.Heal.Done {
			return fmt.Errorf("heal %+v", st.Heal)
		}
		if st.Heal.Failed != 0 || st.Heal.Moved != int64(len(ids)) {
			return fmt.Errorf("heal after the replacement: %+v", st.Heal)
		}
		return nil
	})
	for _, id := range ids {
		h.verify(id)
	}
	if got, _ := filepath.Glob(filepath.Join(victim, "shards", "*", "*.shard")); len(got) != len(ids) {
		t.Fatalf("the new disk holds %d shard files, want %d", len(got), len(ids))
	}
	if st := h.status(); st.DegradedFiles != 0 {
		t.Fatalf("degraded_files = %d", st.DegradedFiles)
	}
}

// TestRepairJobsOneAtATime holds a heal on its bandwidth limit: a second heal joins it, a
// scrub is refused with a sentence, and the heal finishes once released.
func TestRepairJobsOneAtATime(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	id := h.keep(3 << 20)
	h.run(adminapi.JobHeal) // the start's heal is over: the next one is ours
	must(t, os.Remove(h.shard(id, 1)))
	held, release := h.holdBandwidth()
	first := make(chan adminapi.JobProgress, 1)
	go func() {
		p, _ := h.c.Heal(context.Background(), nil)
		first <- p
	}()
	<-held
	var e *adminapi.Error
	if _, err := h.c.Scrub(t.Context(), nil); !errors.As(err, &e) || e.Code != adminapi.CodeConflict || !strings.Contains(e.Message, "a heal is running") {
		t.Fatalf("scrub during a heal = %v, want a conflict saying a heal runs", err)
	}
	second := make(chan adminapi.JobProgress, 1)
	go func() {
		p, _ := h.c.Heal(context.Background(), nil)
		second <- p
	}()
	poll.Until(t, "the second heal joining the first", func() bool {
		r := h.n.repair
		r.mu.Lock()
		run := r.run
		r.mu.Unlock()
		if run == nil {
			return false
		}
		run.mu.Lock()
		defer run.mu.Unlock()
		return run.watchers == 2
	})
	release()
	p1, p2 := <-first, <-second
	if p1.Repaired != 1 || p2.Repaired != 1 || p1.Started != p2.Started {
		t.Fatalf("first heal %+v, second %+v: want the same run, one file repaired", p1, p2)
	}
	h.verify(id)
}

// TestDrainRefused checks that the last node cannot be drained, and stays active.
func TestDrainRefused(t *testing.T) {
	h := newHealNode(t, 6, "auto")
	h.keep(10_000)
	for _, req := range []adminapi.DrainRequest{{}, {Node: h.cfg.Node.ID}} {
		var e *adminapi.Error
		_, err := h.c.Drain(t.Context(), req, nil)
		if !errors.As(err, &e) || e.Code != adminapi.CodeInvalidValue || !strings.Contains(e.Message, "last active node") {
			t.Fatalf("drain %+v of the only node = %v, want refused", req, err)
		}
	}
	if _, err := h.c.Drain(t.Context(), adminapi.DrainRequest{Node: "ghost"}, nil); err == nil || !strings.Contains(err.Error(), "no node ghost") {
		t.Fatalf("drain of an unknown node = %v", err)
	}
	nodes, err := nodeRecords(h.n.store)
	if err != nil || len(nodes) != 1 || nodes[0].state() != nodeActive {
		t.Fatalf("records after refused drains: %+v, %v", nodes, err)
	}
}

// TestDrainFeasible checks the sentence that refuses a drain the other nodes cannot hold.
func TestDrainFeasible(t *testing.T) {
	disks := func(node string, n int, st blobstore.DiskState) blobstore.Node {
		out := blobstore.Node{ID: blobstore.NodeID(node)}
		for i := range n {
			out.Disks = append(out.Disks, blobstore.DiskInfo{ID: blobstore.DiskID(fmt.Sprintf("%s-d%d", node, i)), State: st})
		}
		return out
	}
	rec := func(id, state string) nodeRecord { return nodeRecord{ID: id, State: state} }
	l42 := blobstore.Layout{K: 4, M: 2}
	for _, tc := range []struct {
		name  string
		nodes []nodeRecord
		cm    []blobstore.Node
		want  string // "" when feasible
	}{
		{"room on the others", []nodeRecord{rec("a", ""), rec("b", "active")},
			[]blobstore.Node{disks("a", 6, blobstore.DiskUp), disks("b", 6, blobstore.DiskUp)}, ""},
		{"last node", []nodeRecord{rec("a", ""), rec("b", nodeRemoved)},
			[]blobstore.Node{disks("a", 6, blobstore.DiskUp), disks("b", 6, blobstore.DiskDown)}, "last active node"},
		{"too few disks", []nodeRecord{rec("a", ""), rec("b", "")},
			[]blobstore.Node{disks("a", 6, blobstore.DiskUp), disks("b", 3, blobstore.DiskUp)}, "have 3 usable disks and files need 6 (layout 4+2)"},
		{"down disks do not count", []nodeRecord{rec("a", ""), rec("b", ""), rec("c", "")},
			[]blobstore.Node{disks("a", 6, blobstore.DiskUp), disks("b", 4, blobstore.DiskUp), disks("c", 4, blobstore.DiskDown)}, "have 4 usable disks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := blobstore.ClusterMap{Sites: []blobstore.Site{{ID: "s", Nodes: tc.cm}}}
			err := drainFeasible(cm, tc.nodes, "a", l42)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("drainFeasible = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDrainTransitions drains a second node record that holds no shard: its record goes
// through draining to removed, the drain reports its progress, status shows it, and a second
// drain of it is refused.
func TestDrainTransitions(t *testing.T) {
	h := newHealNode(t, 6, "4+2")
	id := h.keep(50_000)
	h.run(adminapi.JobHeal) // the start's heal is over
	const other = "n-other"
	rec := nodeRecord{ID: other, Site: "default", State: nodeActive, Disks: []diskRecord{{ID: other + "-d1", Path: "/elsewhere/d1"}}}
	b, err := json.Marshal(rec)
	must(t, err)
	_, err = h.n.store.Propose(t.Context(), raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(prefixNodes + other), Value: b}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "node.add", Target: other},
	})
	must(t, err)
	lines := 0
	p, err := h.c.Drain(t.Context(), adminapi.DrainRequest{Node: other}, func(adminapi.JobProgress) { lines++ })
	if err != nil || !p.Done || p.Error != "" || p.Failed != 0 || p.FilesTotal != 1 || lines == 0 || p.Trigger != "drain "+other {
		t.Fatalf("drain = %+v (%d lines), %v", p, lines, err)
	}
	nodes, err := nodeRecords(h.n.store)
	must(t, err)
	for _, r := range nodes {
		want := nodeActive
		if r.ID == other {
			want = nodeRemoved
		}
		if r.state() != want {
			t.Fatalf("node %s is %s after the drain, want %s", r.ID, r.state(), want)
		}
	}
	if st := h.status(); st.Drain == nil || !st.Drain.Done {
		t.Fatalf("status drain = %+v", st.Drain)
	}
	var e *adminapi.Error
	if _, err := h.c.Drain(t.Context(), adminapi.DrainRequest{Node: other}, nil); !errors.As(err, &e) || !strings.Contains(e.Message, "removed already") {
		t.Fatalf("second drain = %v, want refused", err)
	}
	h.verify(id)
}
