package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"valise/blobstore"
)

// TestResumeAtLeastGeneration: Resume moves to the generation the caller claimed (an upload's
// lease, in Raft) when it is above every header's, and to one above the headers' high-water
// mark otherwise (the second guard); the file reads back whole with its generation ranges.
func TestResumeAtLeastGeneration(t *testing.T) {
	ctx := context.Background()
	const stripe = 4 * testBlock
	e := newEnv(t, 6, "4+2")
	data := textData(3, 7*stripe+5)
	w, err := e.s.Create(ctx, "claimed")
	must(t, err)
	if w.Generation() != 1 {
		t.Fatalf("Create's generation %d, want 1", w.Generation())
	}
	_, err = w.Write(data[:3*stripe+7])
	must(t, err)
	st, err := w.Checkpoint(ctx)
	must(t, err)
	must(t, w.Close())
	for _, tc := range []struct {
		name     string
		min, got uint32
	}{
		{"claim above the headers", 9, 9},
		{"claim below the headers: one above them", 3, 10},
		{"no claim", 0, 11},
	} {
		var opts []blobstore.ResumeOption
		if tc.min > 0 {
			opts = append(opts, blobstore.AtLeastGeneration(tc.min))
		}
		w, err := e.open().Resume(ctx, roundTrip(t, st), opts...)
		must(t, err)
		if w.Generation() != tc.got {
			t.Fatalf("%s: resumed at generation %d, want %d", tc.name, w.Generation(), tc.got)
		}
		must(t, w.Close())
	}
	w, err = e.s.Resume(ctx, st, blobstore.AtLeastGeneration(20))
	must(t, err)
	_, err = w.Write(data[st.Offset:])
	must(t, err)
	m, err := w.Commit(ctx)
	must(t, err)
	if last := m.Generations[len(m.Generations)-1]; last.Gen != 20 || last.FirstStripe != st.Stripes {
		t.Fatalf("generation ranges %v, want the last {%d 20}", m.Generations, st.Stripes)
	}
	got, err := e.get(m)
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("file differs after resumes at claimed generations")
	}
}

// TestStaleWriterFenced: a writer that lost its upload's lease (paused while another process
// resumed the file at a newer generation) goes on writing: every shard the newer writer reopened
// refuses its pieces (ErrStaleGeneration), so it fails below its write quorum, while the newer
// writer finishes the file bit-exact.
func TestStaleWriterFenced(t *testing.T) {
	ctx := context.Background()
	const stripe = 4 * testBlock
	e := newEnv(t, 6, "4+2")
	data := randomData(5, 6*stripe+33)
	stale, err := e.s.Create(ctx, "fenced")
	must(t, err)
	_, err = stale.Write(data[:2*stripe+3])
	must(t, err)
	st, err := stale.Checkpoint(ctx)
	must(t, err)

	newer, err := e.open().Resume(ctx, roundTrip(t, st), blobstore.AtLeastGeneration(5))
	must(t, err)

	_, err = stale.Write(randomData(6, 3*stripe))
	if err == nil {
		_, err = stale.Checkpoint(ctx)
	}
	if !errors.Is(err, blobstore.ErrStaleGeneration) {
		t.Fatalf("stale writer's write and checkpoint = %v, want ErrStaleGeneration", err)
	}
	stale.Close()

	_, err = newer.Write(data[st.Offset:])
	must(t, err)
	m, err := newer.Commit(ctx)
	must(t, err)
	got, err := e.get(m)
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Fatal("file written by the newer writer differs")
	}
}
