package rafttest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// The model: each key holds a value and its version (the Raft index that wrote it). Writes are
// compare-and-set (CondVersion) or create (CondAbsent); reads are a LinearizableRead then a
// local Get. A write whose outcome is unknown may or may not have happened, and if it did its
// version is unknown (0) until a read reveals it; every written value is unique, so reads pin
// down which write they saw.
type kvState struct {
	exists  bool
	value   string
	version uint64 // 0: unknown (written by an operation whose outcome was unknown)
}

type opKind uint8

const (
	opRead opKind = iota
	opCreate
	opCAS
)

type kvInput struct {
	kind   opKind
	key    string
	expect uint64 // opCAS
	value  string // opCreate, opCAS
}

type kvOutput struct {
	unknown bool // the write's outcome is unknown (Return is infinity)
	ok      bool // the write applied (false: precondition failed)
	exists  bool // opRead
	value   string
	version uint64 // the read's version, or the write's Raft index
}

func kvStep(s kvState, in kvInput, out kvOutput) []kvState {
	switch in.kind {
	case opRead:
		if s.exists != out.exists {
			return nil
		}
		if !s.exists {
			return []kvState{s}
		}
		if s.value != out.value || s.version != 0 && s.version != out.version {
			return nil
		}
		return []kvState{{true, s.value, out.version}}
	case opCreate:
		switch {
		case out.unknown && !s.exists:
			return []kvState{s, {true, in.value, 0}}
		case out.unknown:
			return []kvState{s}
		case out.ok && !s.exists:
			return []kvState{{true, in.value, out.version}}
		case !out.ok && s.exists:
			return []kvState{s}
		}
		return nil
	case opCAS:
		match := s.exists && (s.version == in.expect || s.version == 0)
		certain := s.exists && s.version == in.expect
		switch {
		case out.unknown && match:
			return []kvState{s, {true, in.value, 0}}
		case out.unknown:
			return []kvState{s}
		case out.ok && match:
			return []kvState{{true, in.value, out.version}}
		case !out.ok && !certain:
			return []kvState{s}
		}
		return nil
	}
	return nil
}

var kvModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{kvState{}} },
	Step: func(state, input, output any) []any {
		var out []any
		for _, s := range kvStep(state.(kvState), input.(kvInput), output.(kvOutput)) {
			out = append(out, s)
		}
		return out
	},
	Equal: func(a, b any) bool { return a.(kvState) == b.(kvState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := fmt.Sprintf("ok@%d", out.version)
		switch {
		case out.unknown:
			res = "unknown"
		case in.kind != opRead && !out.ok:
			res = "conflict"
		}
		switch in.kind {
		case opRead:
			if !out.exists {
				return fmt.Sprintf("get(%s) → absent", in.key)
			}
			return fmt.Sprintf("get(%s) → %s@%d", in.key, out.value, out.version)
		case opCreate:
			return fmt.Sprintf("create(%s, %s) → %s", in.key, in.value, res)
		default:
			return fmt.Sprintf("cas(%s, @%d → %s) → %s", in.key, in.expect, in.value, res)
		}
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		if !s.exists {
			return "absent"
		}
		return fmt.Sprintf("%s@%d", s.value, s.version)
	},
}

// history records operations from concurrent clients, at most capPerKey per key.
type history struct {
	start     time.Time
	capPerKey int
	mu        sync.Mutex // guards ops and perKey
	ops       []porcupine.Operation
	perKey    map[string]int
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// reserve claims a slot for an operation on key, false once the key is full.
func (h *history) reserve(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perKey[key] >= h.capPerKey {
		return false
	}
	h.perKey[key]++
	return true
}

func (h *history) release(key string) {
	h.mu.Lock()
	h.perKey[key]--
	h.mu.Unlock()
}

func (h *history) add(client int, in kvInput, call int64, out kvOutput, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *history) full(keys []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if h.perKey[k] < h.capPerKey {
			return false
		}
	}
	return true
}

// TestLinearizableUnderFaults: concurrent clients do compare-and-set and linearizable reads on
// a few keys while the harness partitions, heals, kills and restarts nodes at random; the
// history must be linearizable (porcupine, partitioned per key), and the cluster must end in
// one state with a valid journal.
func TestLinearizableUnderFaults(t *testing.T) {
	faultTime := 10 * time.Second
	if testing.Short() {
		faultTime = 3 * time.Second
	}
	// Frequent snapshots and short trailing logs, so restarted and lagging nodes also catch up
	// from snapshots while faults go on.
	c := rafttest.NewCluster(t, 3, rafttest.WithConfig(func(cfg *raftfsm.Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 100 * time.Millisecond
	}))
	c.Leader(t)
	keys := []string{"lin/a", "lin/b", "lin/c", "lin/d"}
	h := &history{start: time.Now(), capPerKey: 200, perKey: map[string]int{}}
	ctx, stop := context.WithTimeout(context.Background(), faultTime)
	defer stop()

	var wg sync.WaitGroup
	var seq atomic.Uint64
	const clients = 6
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the capped operations over the whole fault period.
			pace := faultTime * clients / time.Duration(h.capPerKey*len(keys))
			runClient(ctx, t, c, h, cl, keys, &seq, pace)
		}()
	}
	nemesis(ctx, t, c)
	wg.Wait()

	c.Heal()
	for i := range c.N() {
		if !c.Alive(i) {
			c.Restart(i)
		}
	}
	c.ProposeLeader(t, rafttest.Put("lin/done", "1"))
	c.RequireSameState(t)
	c.RequireJournalValid(t)

	h.mu.Lock()
	ops := h.ops
	h.mu.Unlock()
	var unknown, reads, writes int
	for _, op := range ops {
		switch {
		case op.Output.(kvOutput).unknown:
			unknown++
		case op.Input.(kvInput).kind == opRead:
			reads++
		default:
			writes++
		}
	}
	t.Logf("history: %d operations (%d reads, %d writes, %d of unknown outcome)", len(ops), reads, writes, unknown)
	if reads == 0 || writes == 0 {
		t.Fatalf("the clients did not get both reads and writes through: %d reads, %d writes", reads, writes)
	}
	model := kvModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, time.Minute)
	if res != porcupine.Ok {
		f, err := os.CreateTemp("", "valise-porcupine-*.html")
		if err != nil {
			t.Fatalf("history check: %s (and no file for the visualization: %v)", res, err)
		}
		f.Close()
		if err := porcupine.VisualizePath(model, info, f.Name()); err != nil {
			t.Fatalf("history check: %s (visualization failed: %v)", res, err)
		}
		t.Fatalf("history check: %s (Unknown means the checker timed out and counts as a failure); visualization in %s", res, f.Name())
	}
}

// nemesis injects a random fault every 100–400 ms until ctx ends: partition one node (often
// the leader), heal, kill one node (at most one down at a time), restart it.
func nemesis(ctx context.Context, t *testing.T, c *rafttest.Cluster) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	down := -1
	for {
		timer := time.NewTimer(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		switch rng.IntN(4) {
		case 0:
			target := rng.IntN(c.N())
			if s := c.Store(target); s != nil {
				for i := range c.N() { // prefer the leader
					if st := c.Store(i); st != nil && st.Status().State.IsLeader() && rng.IntN(2) == 0 {
						target = i
					}
				}
			}
			c.Partition(target)
		case 1:
			c.Heal()
		case 2:
			if down < 0 {
				down = rng.IntN(c.N())
				c.Kill(down)
			}
		case 3:
			if down >= 0 {
				c.Restart(down)
				down = -1
			}
		}
	}
}

// runClient issues operations on random keys through random nodes until ctx ends or every key
// is full.
func runClient(ctx context.Context, t *testing.T, c *rafttest.Cluster, h *history, id int, keys []string, seq *atomic.Uint64, every time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	pace := time.NewTicker(every)
	defer pace.Stop()
	for ctx.Err() == nil && !h.full(keys) {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		key := keys[rng.IntN(len(keys))]
		if !h.reserve(key) {
			continue
		}
		if !clientOp(ctx, t, c, h, id, key, rng, seq) {
			h.release(key)
		}
	}
}

// clientOp runs one operation and records it; false when nothing was recorded (the operation
// certainly had no effect).
func clientOp(ctx context.Context, t *testing.T, c *rafttest.Cluster, h *history, id int, key string, rng *rand.Rand, seq *atomic.Uint64) bool {
	node := rng.IntN(c.N())
	s := c.Store(node)
	if s == nil {
		return false
	}
	opCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if rng.IntN(2) == 0 {
		in := kvInput{kind: opRead, key: key}
		call := h.now()
		if err := s.LinearizableRead(opCtx); err != nil {
			return false // a failed read has no effect
		}
		it, err := s.Get([]byte(key))
		out := kvOutput{}
		switch {
		case errors.Is(err, raftfsm.ErrNotFound):
		case err != nil:
			return false // closed under us
		default:
			out = kvOutput{exists: true, value: string(it.Value), version: it.Version}
		}
		h.add(id, in, call, out, h.now())
		return true
	}
	// A write goes to whichever node says it leads, with the version it last saw locally.
	leader := -1
	for i := range c.N() {
		if st := c.Store(i); st != nil && st.Status().State.IsLeader() {
			leader = i
		}
	}
	if leader < 0 {
		return false
	}
	s = c.Store(leader)
	if s == nil {
		return false
	}
	value := fmt.Sprintf("c%d-%d", id, seq.Add(1))
	in := kvInput{kind: opCreate, key: key, value: value}
	b := raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(key), Value: []byte(value)}},
		Conds: []raftfsm.Cond{{Kind: raftfsm.CondAbsent, Key: []byte(key)}},
		Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: fmt.Sprintf("client-%d", id), Action: "test.cas", Target: key},
	}
	if it, err := s.Get([]byte(key)); err == nil {
		in = kvInput{kind: opCAS, key: key, expect: it.Version, value: value}
		b.Conds = []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: []byte(key), Version: it.Version}}
	}
	call := h.now()
	res, err := s.Propose(opCtx, b)
	ret := h.now()
	switch {
	case err == nil:
		h.add(id, in, call, kvOutput{ok: true, version: res.Index}, ret)
	case errors.Is(err, raftfsm.ErrConflict):
		h.add(id, in, call, kvOutput{ok: false}, ret)
	case errors.Is(err, raftfsm.ErrInvalidBatch):
		t.Errorf("client %d: %v", id, err)
		return false
	case errors.Is(err, raftfsm.ErrOutcomeUnknown):
		h.add(id, in, call, kvOutput{unknown: true}, math.MaxInt64)
	case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrClosed):
		return false // refused before it reached Raft
	default:
		h.add(id, in, call, kvOutput{unknown: true}, math.MaxInt64) // be conservative
	}
	return true
}

// TestKVModel: the model accepts linearizable histories and rejects the anomalies the fault
// test hunts for, so a passing check means something.
func TestKVModel(t *testing.T) {
	const inf = math.MaxInt64
	op := func(client int, in kvInput, call int64, out kvOutput, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	create := func(v string) kvInput { return kvInput{kind: opCreate, key: "k", value: v} }
	cas := func(expect uint64, v string) kvInput { return kvInput{kind: opCAS, key: "k", expect: expect, value: v} }
	read := kvInput{kind: opRead, key: "k"}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"create then read", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(1, read, 20, kvOutput{exists: true, value: "a", version: 5}, 30),
		}, porcupine.Ok},
		{"stale read after a completed write", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(0, cas(5, "b"), 20, kvOutput{ok: true, version: 7}, 30),
			op(1, read, 40, kvOutput{exists: true, value: "a", version: 5}, 50),
		}, porcupine.Illegal},
		{"two creates both succeed", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(1, create("b"), 0, kvOutput{ok: true, version: 6}, 10),
		}, porcupine.Illegal},
		{"lost update: two CAS on one version", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(1, cas(5, "b"), 20, kvOutput{ok: true, version: 7}, 30),
			op(2, cas(5, "c"), 20, kvOutput{ok: true, version: 8}, 30),
		}, porcupine.Illegal},
		{"unknown write seen later", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(0, cas(5, "b"), 20, kvOutput{unknown: true}, inf),
			op(1, read, 40, kvOutput{exists: true, value: "b", version: 9}, 50),
			op(1, cas(9, "c"), 60, kvOutput{ok: true, version: 11}, 70),
		}, porcupine.Ok},
		{"unknown write never seen", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(0, cas(5, "b"), 20, kvOutput{unknown: true}, inf),
			op(1, read, 40, kvOutput{exists: true, value: "a", version: 5}, 50),
		}, porcupine.Ok},
		{"read of a value nobody wrote", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(1, read, 40, kvOutput{exists: true, value: "z", version: 5}, 50),
		}, porcupine.Illegal},
		{"conflict although the version matched", []porcupine.Operation{
			op(0, create("a"), 0, kvOutput{ok: true, version: 5}, 10),
			op(0, cas(5, "b"), 20, kvOutput{ok: false}, 30),
			op(1, read, 40, kvOutput{exists: true, value: "a", version: 5}, 50),
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := kvModel.ToModel()
			got, info := porcupine.CheckOperationsVerbose(model, tc.ops, 10*time.Second)
			if got != tc.want {
				t.Fatalf("check = %s, want %s", got, tc.want)
			}
			// The failure path of the fault test writes this visualization: it must work.
			path := filepath.Join(t.TempDir(), "history.html")
			if err := porcupine.VisualizePath(model, info, path); err != nil {
				t.Fatalf("visualize: %v", err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Fatalf("visualization not written: %v", err)
			}
		})
	}
}
