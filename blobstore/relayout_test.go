package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"valise/blobstore"
)

// copyFiles counts the files of id (shards, parts, staged tails) on the env's disks, not those of
// IDs that merely start with id.
func copyFiles(t *testing.T, e *env, id blobstore.FileID) int {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(string(id)) + `\.[0-9]+\.[a-z]+(\.tmp)?$`)
	n := 0
	for _, dir := range e.dirs {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && re.MatchString(filepath.Base(p)) {
				n++
			}
			return nil
		})
	}
	return n
}

// TestRelayout rewrites a file from 4+2 to 3+3 and back, as rebalance does: the copy reads back
// bit-exact under the new layout, Misplaced says the old manifest needs it and the copy does
// not, and once the old manifest's shards are deleted none of them is left.
func TestRelayout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 6, "4+2")
	data := randomData(7, 37*testBlock+11)
	m := e.put("f1", data)
	if why, err := e.s.Misplaced(m); why != "" || err != nil {
		t.Fatalf("Misplaced of a file in the current layout = %q, %v", why, err)
	}
	for _, tc := range []struct {
		name, layout string
		id           blobstore.FileID
	}{
		{"4+2 to 3+3", "3+3", "f1.r1"},
		{"3+3 to 4+2", "4+2", "f1.r2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, e.s.SetLayout(tc.layout))
			why, err := e.s.Misplaced(m)
			if why == "" || err != nil {
				t.Fatalf("Misplaced after the layout changed = %q, %v", why, err)
			}
			out, err := e.s.Relayout(ctx, m, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if out.FileID != tc.id || out.Layout.String() != tc.layout || len(out.Shards) != out.Layout.K+out.Layout.M {
				t.Fatalf("copy manifest: %s %s %d shards", out.FileID, out.Layout, len(out.Shards))
			}
			if why, err := e.s.Misplaced(out); why != "" || err != nil {
				t.Fatalf("Misplaced of the copy = %q, %v", why, err)
			}
			// The old file still reads until its shards go.
			if got, err := e.get(m); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("old file before delete: %v", err)
			}
			must(t, e.s.Delete(ctx, m))
			if n := copyFiles(t, e, m.FileID); n != 0 {
				t.Fatalf("%d files of %s left after delete", n, m.FileID)
			}
			if got, err := e.get(out); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("copy reads back %d bytes, %v; want %d bit-exact", len(got), err, len(data))
			}
			if n := copyFiles(t, e, tc.id); n != len(out.Shards) {
				t.Fatalf("%d files of the copy, want its %d shards", n, len(out.Shards))
			}
			m = out
		})
	}
}

// TestRelayoutRefusesAndPurges checks the copy's guards: a copy onto the file's own ID is
// refused (its shards would overwrite the recorded ones), a copy of a file that cannot be read
// leaves nothing, and Purge removes a copy no manifest names.
func TestRelayoutRefusesAndPurges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 6, "4+2")
	data := randomData(8, 9*testBlock)
	m := e.put("f2", data)
	if _, err := e.s.Relayout(ctx, m, m.FileID); !errors.Is(err, blobstore.ErrInvalidID) {
		t.Fatalf("relayout onto its own ID = %v, want ErrInvalidID", err)
	}
	// Three of six shards lost: the copy cannot be read, and nothing of it stays.
	for i := range 3 {
		must(t, os.Remove(e.shardPath(m, i)))
	}
	if _, err := e.s.Relayout(ctx, m, "f2.r1"); !errors.Is(err, blobstore.ErrTooManyLost) {
		t.Fatalf("relayout of an unreadable file = %v, want ErrTooManyLost", err)
	}
	if n := copyFiles(t, e, "f2.r1"); n != 0 {
		t.Fatalf("%d files of a failed copy left", n)
	}
	// A copy left by a crash before its manifest was recorded.
	c := e.put("f3.r1", data)
	if n := copyFiles(t, e, c.FileID); n != 6 {
		t.Fatalf("%d files of the copy, want 6", n)
	}
	must(t, e.s.Purge(ctx, c.FileID))
	if n := copyFiles(t, e, c.FileID); n != 0 {
		t.Fatalf("%d files left after Purge", n)
	}
	must(t, e.s.Purge(ctx, c.FileID)) // idempotent
}
