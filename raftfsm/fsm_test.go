package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

func openTestFSM(t testing.TB, dir string) *fsm {
	t.Helper()
	f, err := openFSM(filepath.Join(dir, "fsm"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

// applyAt applies b as the command at index through the FSM, as raft would.
func applyAt(t testing.TB, f *fsm, index uint64, b Batch) any {
	t.Helper()
	data, err := EncodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
}

func mustGet(t testing.TB, f *fsm, key string) Item {
	t.Helper()
	it, err := f.get([]byte(key))
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return it
}

func TestFSMPreconditions(t *testing.T) {
	// State before each case: "a" put at index 1, "b" absent.
	for _, tc := range []struct {
		name     string
		cond     Cond
		conflict bool
		version  uint64 // the version the conflict reports
	}{
		{"absent holds", Cond{Kind: CondAbsent, Key: []byte("b")}, false, 0},
		{"absent fails", Cond{Kind: CondAbsent, Key: []byte("a")}, true, 1},
		{"present holds", Cond{Kind: CondPresent, Key: []byte("a")}, false, 0},
		{"present fails", Cond{Kind: CondPresent, Key: []byte("b")}, true, 0},
		{"version holds", Cond{Kind: CondVersion, Key: []byte("a"), Version: 1}, false, 0},
		{"version fails", Cond{Kind: CondVersion, Key: []byte("a"), Version: 2}, true, 1},
		{"version of absent key fails", Cond{Kind: CondVersion, Key: []byte("b"), Version: 0}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTestFSM(t, t.TempDir())
			if r, ok := applyAt(t, f, 1, putBatch("a", "1")).(Result); !ok || r.Index != 1 || r.JournalSeq != 1 {
				t.Fatalf("first apply: %v", r)
			}
			_, before, _ := f.stateHash()
			resp := applyAt(t, f, 2, putBatch("c", "2", tc.cond))
			if f.applied.Load() != 2 {
				t.Fatalf("applied %d, want 2", f.applied.Load())
			}
			if !tc.conflict {
				r, ok := resp.(Result)
				if !ok || r.Index != 2 || r.JournalSeq != 2 {
					t.Fatalf("response %#v, want Result{2, 2}", resp)
				}
				if it := mustGet(t, f, "c"); string(it.Value) != "2" || it.Version != 2 {
					t.Fatalf("c = %+v", it)
				}
				return
			}
			ce, ok := resp.(*ConflictError)
			if !ok || !errors.Is(ce, ErrConflict) || ce.Version != tc.version || !bytes.Equal(ce.Cond.Key, tc.cond.Key) {
				t.Fatalf("response %#v, want a conflict on %s at version %d", resp, tc.cond.Key, tc.version)
			}
			if _, err := f.get([]byte("c")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("conflicting batch wrote c: %v", err)
			}
			if h, _ := f.journalHead(); h.Seq != 1 {
				t.Fatalf("conflicting batch journalled: head %d", h.Seq)
			}
			// Only the applied index changed: rewrite it and the state hashes the same.
			if err := f.cur.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(keyApplied), u64(1)) }); err != nil {
				t.Fatal(err)
			}
			if _, after, _ := f.stateHash(); after != before {
				t.Fatal("a conflict changed more than the applied index")
			}
		})
	}
}

func TestFSMPutDeleteVersions(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	applyAt(t, f, 3, putBatch("k", "one"))
	applyAt(t, f, 5, putBatch("k", "two"))
	if it := mustGet(t, f, "k"); string(it.Value) != "two" || it.Version != 5 {
		t.Fatalf("k = %+v, want two at 5", it)
	}
	applyAt(t, f, 6, delBatch("k"))
	if _, err := f.get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := f.get([]byte{0, 'a'}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("internal key readable: %v", err)
	}
}

func TestFSMExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	f := openTestFSM(t, dir)
	applyAt(t, f, 1, putBatch("k", "v1"))
	applyAt(t, f, 2, putBatch("k", "v2"))
	_, h1, _ := f.stateHash()
	// Raft replaying entries the FSM already holds (a node killed after the Badger commit,
	// before raft recorded it as applied) must change nothing.
	for _, i := range []uint64{1, 2} {
		if resp := applyAt(t, f, i, putBatch("k", "again")); resp != nil {
			t.Fatalf("replayed entry %d applied: %v", i, resp)
		}
	}
	if _, h2, _ := f.stateHash(); h2 != h1 {
		t.Fatal("replay changed the state")
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	f = openTestFSM(t, dir)
	if f.applied.Load() != 2 || f.head.Seq != 2 {
		t.Fatalf("after reopen: applied %d head %d, want 2 2", f.applied.Load(), f.head.Seq)
	}
	applyAt(t, f, 2, putBatch("k", "again"))
	if r := applyAt(t, f, 3, putBatch("k", "v3")).(Result); r.JournalSeq != 3 {
		t.Fatalf("next entry journalled at %d, want 3", r.JournalSeq)
	}
}

func TestFSMNonCommandEntries(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	for i, typ := range []raft.LogType{raft.LogConfiguration, raft.LogNoop, raft.LogBarrier} {
		if resp := f.Apply(&raft.Log{Index: uint64(i + 1), Type: typ, Data: []byte("not a batch")}); resp != nil {
			t.Fatalf("%v: response %v", typ, resp)
		}
	}
	if f.applied.Load() != 3 {
		t.Fatalf("applied %d, want 3", f.applied.Load())
	}
	if h, _ := f.journalHead(); h.Seq != 0 {
		t.Fatalf("journal head %d, want 0", h.Seq)
	}
}

func TestFSMUndecodableCommandPanics(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	defer func() {
		if recover() == nil {
			t.Fatal("an undecodable command did not stop the FSM")
		}
		if f.applied.Load() != 0 {
			t.Fatal("the undecodable command moved the applied index")
		}
	}()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{7, 7, 7}})
}

// TestApplyLargestBatch applies the worst cases for Badger's transaction size limit: they
// must commit in one transaction (see fsmProfile).
func TestApplyLargestBatch(t *testing.T) {
	small := make([]Op, MaxOps)
	for i := range small {
		key := fmt.Appendf(bytes.Repeat([]byte("k"), MaxKeySize-8), "%08d", i)
		small[i] = Op{Kind: OpPut, Key: key, Value: bytes.Repeat([]byte("v"), int(fsmProfile().valueThreshold)-1)}
	}
	big := make([]Op, 16)
	for i := range big {
		big[i] = Op{Kind: OpPut, Key: fmt.Appendf(nil, "big/%d", i), Value: make([]byte, MaxBatchSize/16-1024)}
	}
	for _, tc := range []struct {
		name string
		ops  []Op
	}{
		{"4096 longest keys, inline values", small},
		{"16 MiB of values", big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTestFSM(t, t.TempDir())
			b := putBatch("x", "y")
			b.Ops = tc.ops
			b.Audit.Details = make([]byte, 1024)
			if r, ok := applyAt(t, f, 1, b).(Result); !ok || r.Index != 1 {
				t.Fatalf("apply: %v", r)
			}
			n := 0
			if err := f.scan(nil, func(Item) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != len(tc.ops) {
				t.Fatalf("%d items, want %d", n, len(tc.ops))
			}
		})
	}
}

func TestJournalChainAndTamper(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	for i := uint64(1); i <= 5; i++ {
		applyAt(t, f, i, putBatch(fmt.Sprintf("k%d", i), "v"))
	}
	rep, err := f.verify(context.Background())
	if err != nil || rep.Entries != 5 || rep.BrokenAt != 0 || rep.Head.Seq != 5 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	var prev [32]byte
	var seqs []uint64
	if err := f.journal(1, func(e Entry) error {
		if e.PrevHash != prev || e.Action != "test.put" || !e.Time.Equal(testTime) {
			t.Errorf("entry %d: %+v", e.Seq, e)
		}
		prev = e.Hash
		seqs = append(seqs, e.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5]" {
		t.Fatalf("journal seqs %v", seqs)
	}

	for _, tc := range []struct {
		name   string
		tamper func(e *Entry) []byte
	}{
		{"actor rewritten", func(e *Entry) []byte { e.Actor = "mallory"; return encodeEntry(*e) }},
		{"entry rehashed", func(e *Entry) []byte { e.Target = "x"; e.Hash = e.computeHash(); return encodeEntry(*e) }},
		{"garbage", func(*Entry) []byte { return []byte{1, 2, 3} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTestFSM(t, t.TempDir())
			for i := uint64(1); i <= 5; i++ {
				applyAt(t, f, i, putBatch(fmt.Sprintf("k%d", i), "v"))
			}
			// Edit entry 3 in Badger directly, as someone with the disk could.
			err := f.cur.db.Update(func(txn *badger.Txn) error {
				item, err := txn.Get(journalKey(3))
				if err != nil {
					return err
				}
				v, _ := item.ValueCopy(nil)
				e, err := decodeEntry(v)
				if err != nil {
					return err
				}
				return txn.Set(journalKey(3), tc.tamper(&e))
			})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := f.verify(context.Background())
			if !errors.Is(err, ErrJournalBroken) {
				t.Fatalf("verify after tampering: %v", err)
			}
			if rep.BrokenAt != 3 && !(tc.name == "entry rehashed" && rep.BrokenAt == 4) {
				t.Fatalf("BrokenAt %d (%v), want 3", rep.BrokenAt, err)
			}
			if rep.Entries != rep.BrokenAt-1 {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

func TestJournalHeadBytes(t *testing.T) {
	h := JournalHead{Seq: 258, Hash: [32]byte{1, 2, 3}}
	b := h.Bytes()
	want := append([]byte("valise journal head v1\x00"), 0, 0, 0, 0, 0, 0, 1, 2)
	want = append(want, h.Hash[:]...)
	if !bytes.Equal(b, want) {
		t.Fatalf("Bytes() = %x, want %x", b, want)
	}
}

func TestFSMApplyBatchGroups(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	enc := func(b Batch) []byte {
		d, err := EncodeBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	big := putBatch("big/0", "x")
	for i := 1; i < 4000; i++ { // ~ 1.4 MB estimated: alone in its transaction
		big.Ops = append(big.Ops, Op{Kind: OpPut, Key: fmt.Appendf(bytes.Repeat([]byte("b"), 250), "/%d", i), Value: []byte("v")})
	}
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogConfiguration, Data: []byte("config")},
		{Index: 2, Type: raft.LogCommand, Data: enc(putBatch("a", "1"))},
		{Index: 3, Type: raft.LogCommand, Data: enc(putBatch("a", "2", Cond{Kind: CondVersion, Key: []byte("a"), Version: 2}))},
		{Index: 4, Type: raft.LogCommand, Data: enc(putBatch("b", "x", Cond{Kind: CondVersion, Key: []byte("a"), Version: 2}))}, // a is at 3 now
		{Index: 5, Type: raft.LogCommand, Data: enc(delBatch("a", Cond{Kind: CondPresent, Key: []byte("a")}))},
		{Index: 6, Type: raft.LogCommand, Data: enc(putBatch("c", "1", Cond{Kind: CondAbsent, Key: []byte("a")}))},
		{Index: 7, Type: raft.LogCommand, Data: enc(big)},
		{Index: 8, Type: raft.LogCommand, Data: enc(big)},
		{Index: 9, Type: raft.LogNoop},
	}
	resp := f.ApplyBatch(logs)
	want := []string{"<nil>", "result 2/1", "result 3/2", "conflict", "result 5/3", "result 6/4", "result 7/5", "result 8/6", "<nil>"}
	for i, r := range resp {
		var got string
		switch r := r.(type) {
		case Result:
			got = fmt.Sprintf("result %d/%d", r.Index, r.JournalSeq)
		case *ConflictError:
			got = "conflict"
		default:
			got = fmt.Sprint(r)
		}
		if got != want[i] {
			t.Errorf("entry %d: %s, want %s", logs[i].Index, got, want[i])
		}
	}
	if f.applied.Load() != 9 {
		t.Fatalf("applied %d, want 9", f.applied.Load())
	}
	if _, err := f.get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("conflicting entry wrote b: %v", err)
	}
	if rep, err := f.verify(context.Background()); err != nil || rep.Entries != 6 {
		t.Fatalf("verify %+v %v", rep, err)
	}
	_, h1, _ := f.stateHash()
	// The same entries again (a replay) change nothing and answer nil.
	for i, r := range f.ApplyBatch(logs) {
		if r != nil {
			t.Fatalf("replayed entry %d answered %v", logs[i].Index, r)
		}
	}
	if _, h2, _ := f.stateHash(); h1 != h2 {
		t.Fatal("replay changed the state")
	}
}
