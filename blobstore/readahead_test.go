package blobstore

import (
	"bytes"
	"context"
	"testing"
)

// TestDirFileHints checks that the read-ahead and write-back hints of a directory disk's files
// leave the bytes as written, whatever the range (past the end, empty, unaligned).
func TestDirFileHints(t *testing.T) {
	d, err := NewDirDisk("d0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := d.Create(ctx, "shards/ab/x.0.shard", false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("valise-hints "), 100_000)
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	wb, ok := f.(writeBacker)
	if !ok {
		t.Fatal("a dirDisk file is no writeBacker")
	}
	wn, ok := f.(willNeeder)
	if !ok {
		t.Fatal("a dirDisk file is no willNeeder")
	}
	for _, tc := range []struct {
		name   string
		off, n int64
	}{
		{"whole", 0, int64(len(data))},
		{"unaligned", 4097, 12345},
		{"empty", 100, 0},
		{"past the end", int64(len(data)) + 1<<20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wb.StartWriteback(tc.off, tc.n)
			wn.WillNeed(tc.off, tc.n)
			got := make([]byte, len(data))
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the file changed under the hints")
			}
		})
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
