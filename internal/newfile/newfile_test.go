package newfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"valise/internal/newfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.csv")
	if err := newfile.Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "a,b\n"); return err }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat %s: %v, %v; want mode 0600", path, st, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a,b\n" {
		t.Fatalf("content %q", b)
	}

	// An existing file is never written over.
	if err := newfile.Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "other"); return err }); err == nil {
		t.Fatal("wrote over an existing file")
	}
	if b, _ := os.ReadFile(path); string(b) != "a,b\n" {
		t.Fatalf("the existing file changed: %q", b)
	}

	// A failed write leaves nothing behind.
	failed := filepath.Join(dir, "failed.csv")
	boom := errors.New("the node went away")
	err = newfile.Write(failed, func(w io.Writer) error { _, _ = io.WriteString(w, "half"); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the writer's", err)
	}
	for _, p := range []string{failed, failed + ".part"} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the folder holds %d files, want only export.csv", len(entries))
	}
}
