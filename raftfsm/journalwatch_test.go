package raftfsm

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestJournalBackwardAndChanged walks the journal newest first from any point, and wakes a
// watcher holding Changed's channel when an entry is applied after it took it.
func TestJournalBackwardAndChanged(t *testing.T) {
	s := newOneNode(t, t.TempDir()).store
	for i := range 5 {
		if _, err := s.Propose(ctx(t), putBatch(fmt.Sprintf("k/%d", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(before uint64, most int) []uint64 {
		var out []uint64
		errEnough := errors.New("enough")
		err := s.JournalBackward(before, func(e Entry) error {
			out = append(out, e.Seq)
			if len(out) == most {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct {
		before uint64
		most   int
		want   []uint64
	}{
		{0, 0, []uint64{5, 4, 3, 2, 1}},
		{0, 2, []uint64{5, 4}},
		{4, 0, []uint64{3, 2, 1}},
		{2, 0, []uint64{1}},
		{1, 0, nil},
		{99, 1, []uint64{5}},
	} {
		if got := seqs(tc.before, tc.most); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("JournalBackward(%d) most %d = %v, want %v", tc.before, tc.most, got, tc.want)
		}
	}

	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("Changed's channel closed with nothing applied since")
	default:
	}
	if _, err := s.Propose(ctx(t), putBatch("k/late", "v")); err != nil {
		t.Fatal(err)
	}
	<-ch // closed by the apply: a hang here fails the test at its timeout
	if got := seqs(0, 1); !reflect.DeepEqual(got, []uint64{6}) {
		t.Fatalf("newest after the change = %v", got)
	}
}
