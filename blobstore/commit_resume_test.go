package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// recordingDirDisks returns 6 directory disks that record every piece written in log, and
// their folders.
func recordingDirDisks(t *testing.T, log *pieceLog) (map[blobstore.DiskID]blobstore.Disk, map[blobstore.DiskID]string) {
	t.Helper()
	dd, dirs := blobtest.DirDisks(t, t.TempDir(), 6)
	disks := map[blobstore.DiskID]blobstore.Disk{}
	for id, d := range dd {
		disks[id] = recordingDisk{d, log}
	}
	return disks, dirs
}

// filesOf counts the files of id in dirs, by suffix (".shard", ".part", ".stage", ...).
func filesOf(t *testing.T, dirs map[blobstore.DiskID]string, id blobstore.FileID) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if base := filepath.Base(p); !d.IsDir() && strings.HasPrefix(base, string(id)+".") {
				n[filepath.Ext(base)]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// stagedEntry returns the ListStaged entry of id, if any.
func stagedEntry(t *testing.T, s *blobstore.Store, id blobstore.FileID) (blobstore.StagedUpload, bool) {
	t.Helper()
	ups, err := s.ListStaged(context.Background())
	must(t, err)
	for _, u := range ups {
		if u.FileID == id {
			return u, true
		}
	}
	return blobstore.StagedUpload{}, false
}

// roundTrip passes a state through its encoding, as the caller's metadata does.
func roundTrip(t *testing.T, st blobstore.ResumeState) blobstore.ResumeState {
	t.Helper()
	b, err := st.MarshalBinary()
	must(t, err)
	var out blobstore.ResumeState
	must(t, out.UnmarshalBinary(b))
	return out
}

// TestResumeAfterCommit is the crash between Commit and the caller's record of the manifest:
// a new Store over the same folders resumes from the recorded state (the last checkpoint's, or
// the one before when the last was not persisted), the same remaining bytes are written and
// committed again: same size, digest and bytes, no nonce reused. Then ReleaseStaged leaves only
// the shards, is idempotent, and a Resume from the released state fails without harming them.
func TestResumeAfterCommit(t *testing.T) {
	const stripe = 4 * testBlock
	data := textData(31, 9*stripe+45)
	copy(data[3*stripe:], randomData(32, 2*stripe+7))
	for _, tc := range []struct {
		name        string
		checkpoints []int // offsets of the checkpoints
		useState    int   // index of the checkpoint the caller recorded
		crashTwice  bool  // crash again after the second Commit and resume once more
	}{
		{"mid stripe, bytes after it", []int{stripe + 9, 5*stripe + 30}, 1, false},
		{"checkpoint at the end", []int{2*stripe + 1, len(data)}, 1, false},
		{"stripe boundary", []int{stripe + 9, 6 * stripe}, 1, false},
		{"previous checkpoint", []int{stripe + 9, 5*stripe + 30}, 0, false},
		{"crash twice", []int{4*stripe + 3, 8*stripe + 1}, 1, true},
		{"one checkpoint in the first stripe", []int{17}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			log := &pieceLog{seen: map[string][32]byte{}, gens: map[uint32]bool{}}
			disks, dirs := recordingDirDisks(t, log)
			keys := blobtest.NewKeyWrapper()
			id := blobstore.FileID("crash")

			s := newStore(t, disks, "4+2", keys)
			w, err := s.Create(ctx, id)
			must(t, err)
			var states []blobstore.ResumeState
			pos := 0
			for _, off := range tc.checkpoints {
				_, err := w.Write(data[pos:off])
				must(t, err)
				pos = off
				st, err := w.Checkpoint(ctx)
				must(t, err)
				states = append(states, roundTrip(t, st))
			}
			_, err = w.Write(data[pos:])
			must(t, err)
			m1, err := w.Commit(ctx)
			must(t, err)
			if m1.Size != int64(len(data)) || m1.SHA256 != sha256.Sum256(data) {
				t.Fatalf("first commit: size %d sha %x", m1.Size, m1.SHA256)
			}
			st := states[tc.useState]
			if u, ok := stagedEntry(t, s, id); st.StagedLen > 0 && (!ok || !u.Committed) {
				t.Fatalf("after commit: ListStaged entry %+v (listed %v), want a committed leftover", u, ok)
			} else if ok && !u.Committed {
				t.Fatalf("after commit: %+v is not marked committed", u)
			}

			// The process dies before the manifest is recorded; st is what the metadata holds.
			m := m1
			rounds := 1
			if tc.crashTwice {
				rounds = 2
			}
			for range rounds {
				s = newStore(t, disks, "4+2", keys)
				w, err = s.Resume(ctx, st)
				must(t, err)
				if w.Offset() != st.Offset {
					t.Fatalf("resumed at %d, want %d", w.Offset(), st.Offset)
				}
				_, err = w.Write(data[st.Offset:])
				must(t, err)
				m2, err := w.Commit(ctx)
				must(t, err)
				if m2.Size != m1.Size || m2.SHA256 != m1.SHA256 || m2.BlockSize != m1.BlockSize ||
					m2.Layout != m1.Layout || !bytes.Equal(m2.WrappedKey, m1.WrappedKey) {
					t.Fatalf("recommitted manifest %+v differs from the first %+v", m2, m1)
				}
				last := m.Generations[len(m.Generations)-1].Gen
				if got := m2.Generations[len(m2.Generations)-1]; got.Gen <= last || got.FirstStripe != st.Stripes && st.Offset < m1.Size {
					t.Fatalf("generations %v after %v: the resumed stripes need a new generation from stripe %d", m2.Generations, m.Generations, st.Stripes)
				}
				m = m2
			}
			got, err := func() ([]byte, error) {
				var buf bytes.Buffer
				err := s.Get(ctx, m, &buf, 0, -1)
				return buf.Bytes(), err
			}()
			must(t, err)
			if !bytes.Equal(got, data) {
				t.Fatal("recommitted file reads back different bytes")
			}
			log.mu.Lock()
			reused := log.reused
			log.mu.Unlock()
			if len(reused) > 0 {
				t.Fatalf("nonce reused for %v", reused)
			}

			// The manifest is recorded: release the leftovers.
			must(t, s.ReleaseStaged(ctx, m))
			if u, ok := stagedEntry(t, s, id); ok {
				t.Fatalf("after ReleaseStaged: still staged %+v", u)
			}
			if n := filesOf(t, dirs, id); len(n) != 1 || n[".shard"] != 6 {
				t.Fatalf("after ReleaseStaged: files %v, want only the 6 shards", n)
			}
			must(t, s.ReleaseStaged(ctx, m)) // idempotent
			if st.StagedLen > 0 {
				if _, err := s.Resume(ctx, st); !errors.Is(err, blobstore.ErrBadResumeState) {
					t.Fatalf("resume from a released state: %v, want ErrBadResumeState", err)
				}
				if n := filesOf(t, dirs, id); len(n) != 1 || n[".shard"] != 6 {
					t.Fatalf("after the refused resume: files %v", n)
				}
			}
			got, err = func() ([]byte, error) {
				var buf bytes.Buffer
				err := newStore(t, disks, "4+2", keys).Get(ctx, m, &buf, 0, -1)
				return buf.Bytes(), err
			}()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after release, read back: %v", err)
			}
		})
	}
}

// TestCommitLeftoversCleaned: what Commit leaves for a Resume is reported by ListStaged as
// committed (apart from a live upload), and Delete, CleanStaged and ReleaseStaged each remove it
// without leaking; CleanStaged and ReleaseStaged keep the committed shards.
func TestCommitLeftoversCleaned(t *testing.T) {
	const stripe = 4 * testBlock
	data := randomData(41, 3*stripe+50)
	for _, tc := range []struct {
		name       string
		clean      func(*blobstore.Store, blobstore.Manifest) error
		wantShards int // committed shard files left
	}{
		{"delete", func(s *blobstore.Store, m blobstore.Manifest) error { return s.Delete(context.Background(), m) }, 0},
		{"clean staged", func(s *blobstore.Store, m blobstore.Manifest) error {
			return s.CleanStaged(context.Background(), func(id blobstore.FileID) bool { return id != m.FileID })
		}, 6},
		{"release staged", func(s *blobstore.Store, m blobstore.Manifest) error { return s.ReleaseStaged(context.Background(), m) }, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 6, "4+2")
			id := blobstore.FileID("done")
			w, err := e.s.Create(ctx, id)
			must(t, err)
			_, err = w.Write(data[:stripe+5])
			must(t, err)
			_, err = w.Checkpoint(ctx)
			must(t, err)
			_, err = w.Write(data[stripe+5 : 2*stripe+70])
			must(t, err)
			_, err = w.Checkpoint(ctx)
			must(t, err)
			_, err = w.Write(data[2*stripe+70:])
			must(t, err)
			m, err := w.Commit(ctx)
			must(t, err)

			// A live upload beside it, with a staged tail.
			live, err := e.s.Create(ctx, "live")
			must(t, err)
			_, err = live.Write(data[:stripe+3])
			must(t, err)
			_, err = live.Checkpoint(ctx)
			must(t, err)
			must(t, live.Close())

			s := e.open() // as after a restart
			u, ok := stagedEntry(t, s, id)
			if !ok || !u.Committed || u.Bytes == 0 {
				t.Fatalf("committed leftover listed as %+v (%v)", u, ok)
			}
			if n := filesOf(t, e.dirs, id); n[".stage"] != 2*3 || n[".shard"] != 6 {
				t.Fatalf("after commit: files %v, want 6 shards and 2 tails × 3 copies", n)
			}
			if l, ok := stagedEntry(t, s, "live"); !ok || l.Committed {
				t.Fatalf("live upload listed as %+v (%v)", l, ok)
			}

			must(t, tc.clean(s, m))
			if u, ok := stagedEntry(t, s, id); ok {
				t.Fatalf("still staged: %+v", u)
			}
			n := filesOf(t, e.dirs, id)
			if n[".shard"] != tc.wantShards || len(n) > 1 || len(n) == 1 && tc.wantShards == 0 {
				t.Fatalf("files left %v, want %d shards only", n, tc.wantShards)
			}
			if tc.wantShards > 0 {
				var buf bytes.Buffer
				if err := s.Get(ctx, m, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
					t.Fatalf("committed file hurt: %v", err)
				}
			}
			if l, ok := stagedEntry(t, s, "live"); !ok || l.Committed {
				t.Fatalf("live upload touched: %+v (%v)", l, ok)
			}
		})
	}
}

// TestReleaseStagedNothingLeft: ReleaseStaged after a Put (no checkpoint, so nothing staged) and
// for a file no disk knows is not an error, and rejects an invalid ID.
func TestReleaseStagedNothingLeft(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	m := e.put("plain", randomData(51, 1000))
	for _, tc := range []struct {
		name string
		m    blobstore.Manifest
		want error
	}{
		{"after put", m, nil},
		{"unknown file", blobstore.Manifest{FileID: "nobody"}, nil},
		{"invalid id", blobstore.Manifest{FileID: "../x"}, blobstore.ErrInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.s.ReleaseStaged(context.Background(), tc.m); !errors.Is(err, tc.want) {
				t.Fatalf("ReleaseStaged: %v, want %v", err, tc.want)
			}
		})
	}
	if got, err := e.get(m); err != nil || !bytes.Equal(got, randomData(51, 1000)) {
		t.Fatalf("put file after ReleaseStaged: %v", err)
	}
}
