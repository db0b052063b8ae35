package blobstore

import (
	"context"
	"errors"
	"testing"
)

// TestGenerationFence writes headers and pieces into a shard file being written, through two
// Disk instances over one directory (two open files, as a stale writer and a newer one have):
// the disk refuses a header that does not raise the file's generation and a piece of another
// generation than the file's, whichever open file sends it (issue 18: "shard servers refuse a
// write of an older generation").
func TestGenerationFence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d1, err := NewDirDisk("d1", dir)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := NewDirDisk("d1", dir)
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{K: 2, M: 1}
	g := newGeometry(l, 64)
	const id = FileID("fenced")
	name := shardName(id, 0, ".part")
	older, err := d1.Create(ctx, name, true)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Close()
	newer, err := d2.Create(ctx, name, false)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	header := func(gen uint32) []byte {
		h := fileHeader{k: l.K, m: l.M, shard: 0, blockSize: g.blockSize, genHighWater: gen, clusterID: "c", fileID: id}
		return h.marshal()
	}
	piece := func(stripe uint64, gen uint32) []byte {
		b := make([]byte, g.hdrSize+8)
		putPieceHeader(b, g, stripe, gen, make([]uint32, l.K), 8, 0)
		return b
	}
	for _, tc := range []struct {
		name  string
		f     File
		p     []byte
		off   int64
		stale bool
	}{
		{"piece before any header", older, piece(0, 1), g.slotOffset(0), true},
		{"first header", older, header(1), 0, false},
		{"piece of the header's generation", older, piece(0, 1), g.slotOffset(0), false},
		{"same generation claimed again", newer, header(1), 0, true},
		{"newer writer raises it", newer, header(3), 0, false},
		{"stale writer's piece", older, piece(1, 1), g.slotOffset(1), true},
		{"stale writer's header", older, header(2), 0, true},
		{"piece of an unclaimed generation", newer, piece(1, 4), g.slotOffset(1), true},
		{"newer writer's piece", newer, piece(1, 3), g.slotOffset(1), false},
		{"junk over a header", older, make([]byte, fileHeaderSize), 0, true},
		{"not a piece: not checked", older, []byte("plain"), g.slotOffset(2), false},
	} {
		_, err := tc.f.WriteAt(tc.p, tc.off)
		if tc.stale != errors.Is(err, ErrStaleGeneration) || !tc.stale && err != nil {
			t.Fatalf("%s: WriteAt = %v, want stale %v", tc.name, err, tc.stale)
		}
	}
	// Committed shards (Heal rewrites their pieces in place with each stripe's generation)
	// and staged tails are not fenced.
	sh, err := d1.Create(ctx, shardName(id, 0, ".shard"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if _, err := sh.WriteAt(header(5), 0); err != nil {
		t.Fatalf("write a header into a committed shard: %v", err)
	}
	if _, err := sh.WriteAt(piece(0, 1), g.slotOffset(0)); err != nil {
		t.Fatalf("heal a piece of an older generation in a committed shard: %v", err)
	}
}
