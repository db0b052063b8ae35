package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

func sampleManifest() blobstore.Manifest {
	return blobstore.Manifest{
		FileID: "0192f6e4-aaaa-7bbb-8ccc-123456789abc", Size: 5<<20 + 3, SHA256: [32]byte{1, 2, 3},
		Layout: blobstore.Layout{K: 4, M: 2}, BlockSize: 1 << 20, Codec: blobstore.CodecRSVandermonde,
		Generations: []blobstore.GenRange{{FirstStripe: 0, Gen: 1}, {FirstStripe: 1, Gen: 3}},
		Shards:      []blobstore.DiskID{"d0", "d1", "d2", "d3", "d4", "d5"}, WrappedKey: []byte("wrapped-key-bytes"),
	}
}

func sampleState() blobstore.ResumeState {
	return blobstore.ResumeState{
		FileID: "upload-1", Offset: 3*4*64 + 10, Layout: blobstore.Layout{K: 4, M: 2}, BlockSize: 64,
		Shards: []blobstore.DiskID{"a", "b", "c", "d", "e", "f"}, WrappedKey: []byte("k"), Generation: 2,
		Generations: []blobstore.GenRange{{0, 1}, {2, 2}}, Stripes: 3, HashState: []byte("hash-state"),
		StagedSeq: 2<<32 | 1, StagedLen: 10, StagedKey: []byte("sk"), LostShards: []int{1, 4},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	b, err := m.MarshalBinary()
	must(t, err)
	var got blobstore.Manifest
	must(t, got.UnmarshalBinary(b))
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*blobstore.Manifest)
	}{
		{"bad id", func(m *blobstore.Manifest) { m.FileID = "../etc" }},
		{"unknown codec", func(m *blobstore.Manifest) { m.Codec = "rs-cauchy" }},
		{"shard count", func(m *blobstore.Manifest) { m.Shards = m.Shards[:5] }},
		{"generations out of order", func(m *blobstore.Manifest) { m.Generations[1].Gen = 1 }},
		{"no generation", func(m *blobstore.Manifest) { m.Generations = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest()
			tc.mutate(&m)
			b, _ := m.MarshalBinary()
			var got blobstore.Manifest
			if err := got.UnmarshalBinary(b); !errors.Is(err, blobstore.ErrBadFormat) {
				t.Fatalf("got %v, want ErrBadFormat", err)
			}
		})
	}
	for cut := range len(b) {
		var got blobstore.Manifest
		if err := got.UnmarshalBinary(b[:cut]); err == nil {
			t.Fatalf("truncated at %d accepted", cut)
		}
	}
}

func TestResumeStateRoundTrip(t *testing.T) {
	s := sampleState()
	b, err := s.MarshalBinary()
	must(t, err)
	var got blobstore.ResumeState
	must(t, got.UnmarshalBinary(b))
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n%+v\n%+v", got, s)
	}
	s.Offset++
	b, _ = s.MarshalBinary()
	if err := got.UnmarshalBinary(b); !errors.Is(err, blobstore.ErrBadFormat) {
		t.Fatalf("inconsistent offset: %v", err)
	}
}

func FuzzUnmarshalManifest(f *testing.F) {
	b, _ := sampleManifest().MarshalBinary()
	f.Add(b)
	f.Add([]byte("VMF\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m blobstore.Manifest
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		again, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

func FuzzUnmarshalResumeState(f *testing.F) {
	b, _ := sampleState().MarshalBinary()
	f.Add(b)
	f.Add([]byte("VRS\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s blobstore.ResumeState
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// FuzzShardReader replaces or overwrites up to two shard files (m = 2) of a stored file with
// arbitrary bytes: reads must still return exactly the stored bytes, rebuilt from the others,
// and heal must restore every shard.
func FuzzShardReader(f *testing.F) {
	data := textData(3, 3*4*testBlock+20)
	copy(data[50:], randomData(4, 2*testBlock))
	f.Add(0, []byte{}, 0, []byte{})
	f.Add(1, []byte("VALISESH"), 4, []byte("K\x05garbage"))
	f.Add(5, bytes.Repeat([]byte{0}, 600), 2, []byte("K\x60\xff\xff"))
	f.Fuzz(func(t *testing.T, shard int, content []byte, shard2 int, content2 []byte) {
		mem := blobtest.MemDisks(6)
		s := newStore(t, mem, "4+2")
		m, err := s.Put(context.Background(), "fz", bytes.NewReader(data))
		must(t, err)
		damage := func(shard int, content []byte) {
			shard = (shard%6 + 6) % 6
			d := mem[m.Shards[shard]].(*blobtest.MemDisk)
			var name string
			for _, n := range d.Files() {
				if strings.HasSuffix(n, ".shard") {
					name = n
				}
			}
			if len(content) > 2 && content[0] == 'K' {
				// Keep the real shard and overwrite part of it.
				fh, err := d.Open(context.Background(), name)
				must(t, err)
				fw, err := d.Create(context.Background(), name, false)
				must(t, err)
				sz, _ := fh.Size()
				off := int64(content[1]) * 7 % max(sz, 1)
				_, err = fw.WriteAt(content[2:], off)
				must(t, err)
				return
			}
			fw, err := d.Create(context.Background(), name, true)
			must(t, err)
			_, err = fw.WriteAt(content, 0)
			must(t, err)
		}
		damage(shard, content)
		damage(shard2, content2)
		var buf bytes.Buffer
		err = s.Get(context.Background(), m, &buf, 0, -1)
		if err != nil && !errors.Is(err, blobstore.ErrHealNeeded) {
			t.Fatalf("get with two shards damaged: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatal("wrong bytes returned")
		}
		m2, _, err := s.Heal(context.Background(), m)
		must(t, err)
		buf.Reset()
		if err := s.Get(context.Background(), m2, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("after heal: %v", err)
		}
	})
}
