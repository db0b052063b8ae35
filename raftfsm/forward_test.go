package raftfsm

import "testing"

// TestFencesItself (issue 18, forwarding retries): a batch is proposed again after an unknown
// outcome only when its own application makes one of its conditions false, so that a second
// copy can only conflict; a batch that does not is never re-proposed (it could apply twice).
func TestFencesItself(t *testing.T) {
	put := func(k string) Op { return Op{Kind: OpPut, Key: []byte(k), Value: []byte("v")} }
	del := func(k string) Op { return Op{Kind: OpDelete, Key: []byte(k)} }
	cond := func(kind CondKind, k string) Cond { return Cond{Kind: kind, Key: []byte(k), Version: 7} }
	for _, tc := range []struct {
		name  string
		conds []Cond
		ops   []Op
		want  bool
	}{
		{"no condition", nil, []Op{put("a")}, false},
		{"absent and put", []Cond{cond(CondAbsent, "a")}, []Op{put("a")}, true},
		{"absent on another key", []Cond{cond(CondAbsent, "b")}, []Op{put("a")}, false},
		{"absent, put then delete", []Cond{cond(CondAbsent, "a")}, []Op{put("a"), del("a")}, false},
		{"absent and delete", []Cond{cond(CondAbsent, "a")}, []Op{del("a")}, false},
		{"present and delete", []Cond{cond(CondPresent, "a")}, []Op{del("a")}, true},
		{"present and put", []Cond{cond(CondPresent, "a")}, []Op{put("a")}, false},
		{"present, delete then put", []Cond{cond(CondPresent, "a")}, []Op{del("a"), put("a")}, false},
		{"version and put", []Cond{cond(CondVersion, "a")}, []Op{put("a")}, true},
		{"version and delete", []Cond{cond(CondVersion, "a")}, []Op{del("a")}, true},
		{"version on a key not written", []Cond{cond(CondVersion, "b")}, []Op{put("a")}, false},
		{"second cond fences", []Cond{cond(CondPresent, "b"), cond(CondAbsent, "a")}, []Op{put("b"), put("a")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fencesItself(Batch{Conds: tc.conds, Ops: tc.ops}); got != tc.want {
				t.Fatalf("fencesItself = %v, want %v", got, tc.want)
			}
		})
	}
}
