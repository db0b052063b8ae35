package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// tornDisk writes only the first half of every piece but reports success: a torn write the
// disk did not notice (power cut in the middle of a page).
type tornDisk struct{ blobstore.Disk }

func (d tornDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	f, err := d.Disk.Create(ctx, name, truncate)
	if err != nil {
		return nil, err
	}
	return tornFile{f}, nil
}

type tornFile struct{ blobstore.File }

func (f tornFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > 100 && string(p[:4]) == "VPC1" {
		f.File.WriteAt(p[:len(p)/2], off)
		return len(p), nil
	}
	return f.File.WriteAt(p, off)
}

// slowDisk delays every write: a disk far slower than the others.
type slowDisk struct{ blobstore.Disk }

func (d slowDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	f, err := d.Disk.Create(ctx, name, truncate)
	if err != nil {
		return nil, err
	}
	return slowFile{f}, nil
}

type slowFile struct{ blobstore.File }

func (f slowFile) WriteAt(p []byte, off int64) (int, error) {
	time.Sleep(2 * time.Millisecond) // simulates the disk, not a wait in the test
	return f.File.WriteAt(p, off)
}

func newStore(t *testing.T, disks map[blobstore.DiskID]blobstore.Disk, layout string, keys ...*blobtest.KeyWrapper) *blobstore.Store {
	t.Helper()
	kw := blobtest.NewKeyWrapper()
	if len(keys) > 0 {
		kw = keys[0]
	}
	cfg := blobstore.DefaultConfig()
	cfg.BlockSize = testBlock
	cfg.Layout = layout
	cfg.Workers = 2
	cfg.MinFreeBytes = 0
	s, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, kw, blobtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func memFileCount(disks map[blobstore.DiskID]blobstore.Disk) int {
	n := 0
	for _, d := range disks {
		for range d.(*blobtest.MemDisk).Files() {
			n++
		}
	}
	return n
}

func TestEIO(t *testing.T) {
	data := randomData(21, 9*4*testBlock+3)
	for _, tc := range []struct {
		name     string
		wrap     func(blobstore.Disk) blobstore.Disk
		bad      int  // disks wrapped
		putFails bool // more than the write quorum lost
	}{
		{"write one disk", func(d blobstore.Disk) blobstore.Disk {
			return blobtest.NewFaultDisk(d).Fail(blobtest.OpWrite, syscall.EIO)
		}, 1, false},
		{"write two disks", func(d blobstore.Disk) blobstore.Disk {
			return blobtest.NewFaultDisk(d).Fail(blobtest.OpWrite, syscall.EIO)
		}, 2, true},
		{"fsync one disk", func(d blobstore.Disk) blobstore.Disk {
			return blobtest.NewFaultDisk(d).Fail(blobtest.OpSync, syscall.EIO)
		}, 1, false},
		{"fsync three disks", func(d blobstore.Disk) blobstore.Disk {
			return blobtest.NewFaultDisk(d).Fail(blobtest.OpSync, syscall.EIO)
		}, 3, true},
		{"read two disks", func(d blobstore.Disk) blobstore.Disk {
			return blobtest.NewFaultDisk(d).Fail(blobtest.OpRead, syscall.EIO)
		}, 2, false},
		{"torn writes on two disks", func(d blobstore.Disk) blobstore.Disk { return tornDisk{d} }, 2, false},
		{"slow disk", func(d blobstore.Disk) blobstore.Disk { return slowDisk{d} }, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := blobtest.MemDisks(7) // 4+2 on 7 disks: heal can move a shard
			disks := map[blobstore.DiskID]blobstore.Disk{}
			for id, d := range mem {
				disks[id] = d
			}
			// Wrap the disks that placement gives the first shards.
			probe := newStore(t, mem, "4+2")
			pm, err := probe.Put(context.Background(), "eio", bytes.NewReader([]byte("x")))
			must(t, err)
			must(t, probe.Delete(context.Background(), pm))
			for _, id := range pm.Shards[:tc.bad] {
				disks[id] = tc.wrap(mem[id])
			}
			keys := blobtest.NewKeyWrapper()
			s := newStore(t, disks, "4+2", keys)
			m, err := s.Put(context.Background(), "eio", bytes.NewReader(data))
			if tc.putFails {
				if err == nil || !errors.Is(err, syscall.EIO) {
					t.Fatalf("put: %v, want an EIO failure", err)
				}
				if n := memFileCount(mem); n != 0 {
					t.Fatalf("%d files left after a failed put", n)
				}
				return
			}
			unnoticed := tc.name[:4] == "read" || tc.name[:4] == "torn" || tc.name[:4] == "slow"
			if unnoticed {
				must(t, err)
			} else if !errors.Is(err, blobstore.ErrHealNeeded) {
				t.Fatalf("put: %v, want ErrHealNeeded", err)
			}
			var buf bytes.Buffer
			err = s.Get(context.Background(), m, &buf, 0, -1)
			if tc.name[:4] == "slow" {
				if err != nil || !bytes.Equal(buf.Bytes(), data) {
					t.Fatalf("get: %v", err)
				}
				return
			}
			if !errors.Is(err, blobstore.ErrHealNeeded) || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("get: %v, equal %v", err, bytes.Equal(buf.Bytes(), data))
			}
			if tc.name[:4] == "read" {
				return
			}
			if tc.name[:4] == "torn" {
				// Heal rewrites the torn pieces in place, through the honest disks.
				s = newStore(t, mem, "4+2", keys)
			}
			m2, rep, err := s.Heal(context.Background(), m)
			must(t, err)
			if len(rep.Bad) != tc.bad {
				t.Fatalf("heal: %+v", rep)
			}
			if tc.name == "write one disk" && len(rep.Moved) != 1 {
				t.Fatalf("heal did not move the shard off the failing disk: %+v", rep)
			}
			buf.Reset()
			err = s.Get(context.Background(), m2, &buf, 0, -1)
			if (tc.name == "write one disk" || tc.name[:4] == "torn") && err != nil {
				t.Fatalf("get after heal: %v", err)
			}
			if !bytes.Equal(buf.Bytes(), data) {
				t.Fatal("get after heal differs")
			}
		})
	}
}

// TestENOSPC fills a small tmpfs: the put fails with ENOSPC and leaves nothing behind.
func TestENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
			t.Fatal("TestENOSPC needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	disks, _ := blobtest.DirDisks(t, dir, 6)
	cfg := blobstore.DefaultConfig()
	cfg.BlockSize = 64 << 10
	cfg.Layout = "4+2"
	cfg.MinFreeBytes = 0
	s, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, blobtest.NewKeyWrapper(), blobtest.Logger(t))
	must(t, err)
	defer s.Close()
	small := randomData(1, 300<<10)
	m, err := s.Put(context.Background(), "fits", bytes.NewReader(small))
	must(t, err)
	_, err = s.Put(context.Background(), "too-big", bytes.NewReader(randomData(2, 12<<20)))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("put of 12 MiB on 4 MiB: %v, want ENOSPC", err)
	}
	// Nothing of the failed put is left, and the earlier file is intact.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(p, "too-big") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	var buf bytes.Buffer
	if err := s.Get(context.Background(), m, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), small) {
		t.Fatalf("earlier file: %v", err)
	}
	// A resumable write that hits ENOSPC keeps its last durable state usable after space is
	// freed.
	w, err := s.Create(context.Background(), "resumable")
	must(t, err)
	_, err = w.Write(randomData(3, 1<<20))
	must(t, err)
	st, err := w.Checkpoint(context.Background())
	must(t, err)
	_, err = w.Write(randomData(4, 12<<20))
	if err == nil {
		_, err = w.Checkpoint(context.Background())
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the disk: %v, want ENOSPC", err)
	}
	must(t, w.Close())
	must(t, s.Delete(context.Background(), m))
	w, err = s.Resume(context.Background(), st)
	must(t, err)
	tail := randomData(5, 1000)
	_, err = w.Write(tail)
	must(t, err)
	m2, err := w.Commit(context.Background())
	must(t, err)
	want := append(randomData(3, 1<<20), tail...)
	if m2.SHA256 != sha256.Sum256(want) {
		t.Fatal("resumed file after ENOSPC has the wrong digest")
	}
}

// recordingDisk records, for every piece written, (shard, stripe, generation) and the digest
// of its sealed payload: the same triple with two different payloads is a nonce reused.
type recordingDisk struct {
	blobstore.Disk
	rec *pieceLog
}

type pieceLog struct {
	mu     sync.Mutex // guards seen, reused
	seen   map[string][32]byte
	gens   map[uint32]bool
	reused []string
}

func (d recordingDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	f, err := d.Disk.Create(ctx, name, truncate)
	if err != nil {
		return nil, err
	}
	return recordingFile{f, name, d.rec}, nil
}

type recordingFile struct {
	blobstore.File
	name string
	rec  *pieceLog
}

func (f recordingFile) WriteAt(p []byte, off int64) (int, error) {
	const hdr = 24 + 4*4 // piece header for k = 4
	if len(p) >= hdr && string(p[:4]) == "VPC1" {
		base := filepath.Base(f.name)
		parts := strings.Split(base, ".")
		shard, _ := strconv.Atoi(parts[len(parts)-2])
		stripe := binary.BigEndian.Uint64(p[4:])
		gen := binary.BigEndian.Uint32(p[12:])
		key := fmt.Sprintf("%s shard %d stripe %d gen %d", parts[0], shard, stripe, gen)
		sum := sha256.Sum256(p[hdr:])
		f.rec.mu.Lock()
		if old, ok := f.rec.seen[key]; ok && old != sum {
			f.rec.reused = append(f.rec.reused, key)
		}
		f.rec.seen[key] = sum
		f.rec.gens[gen] = true
		f.rec.mu.Unlock()
	}
	return f.File.WriteAt(p, off)
}

// TestRollbackNeverReusesNonce resumes twice from the same state after unacknowledged writes
// (a rollback, then a crash and the same rollback again): every resume takes a generation
// higher than any used, so no (key, nonce) seals two different plaintexts.
func TestRollbackNeverReusesNonce(t *testing.T) {
	log := &pieceLog{seen: map[string][32]byte{}, gens: map[uint32]bool{}}
	mem := blobtest.MemDisks(6)
	disks := map[blobstore.DiskID]blobstore.Disk{}
	for id, d := range mem {
		disks[id] = recordingDisk{d, log}
	}
	stripe := 4 * testBlock
	ctx := context.Background()
	keys := blobtest.NewKeyWrapper()
	s := newStore(t, disks, "4+2", keys)
	w, err := s.Create(ctx, "rb")
	must(t, err)
	head := randomData(1, 2*stripe+10)
	_, err = w.Write(head)
	must(t, err)
	st, err := w.Checkpoint(ctx)
	must(t, err)
	if st.Generation != 1 {
		t.Fatalf("first generation %d", st.Generation)
	}
	_, err = w.Write(randomData(2, 3*stripe)) // never acknowledged
	must(t, err)
	_, err = w.Checkpoint(ctx) // durable, but the caller fails to persist it
	must(t, err)
	must(t, w.Close())

	var gens []uint32
	for i, seed := range []uint64{3, 4} {
		s2 := newStore(t, disks, "4+2", keys) // a new process each time
		w, err = s2.Resume(ctx, st)
		must(t, err)
		_, err = w.Write(randomData(seed, 3*stripe)) // different bytes at the same offsets
		must(t, err)
		st2, err := w.Checkpoint(ctx)
		must(t, err)
		gens = append(gens, st2.Generation)
		if i == 1 {
			tail := randomData(5, 100)
			_, err = w.Write(tail)
			must(t, err)
			m, err := w.Commit(ctx)
			must(t, err)
			want := append(append(append([]byte(nil), head...), randomData(4, 3*stripe)...), tail...)
			if m.SHA256 != sha256.Sum256(want) {
				t.Fatal("rolled-back file has the wrong digest")
			}
			var buf bytes.Buffer
			must(t, s2.Get(ctx, m, &buf, 0, -1))
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatal("rolled-back file reads back wrong")
			}
			if len(m.Generations) != 2 || m.Generations[0] != (blobstore.GenRange{FirstStripe: 0, Gen: 1}) ||
				m.Generations[1] != (blobstore.GenRange{FirstStripe: 2, Gen: 3}) {
				t.Fatalf("manifest generations %v, want [{0 1} {2 3}]", m.Generations)
			}
		} else {
			must(t, w.Close())
		}
	}
	if gens[0] != 2 || gens[1] != 3 {
		t.Fatalf("resume generations %v, want [2 3]", gens)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.reused) > 0 {
		t.Fatalf("nonce reused for %v", log.reused)
	}
	if !log.gens[1] || !log.gens[2] || !log.gens[3] {
		t.Fatalf("generations seen %v", log.gens)
	}
}

// TestResumeRemembersLostShards: a shard lost before a checkpoint stays lost after a resume
// (its file misses stripes), and the commit reports it for heal.
func TestResumeRemembersLostShards(t *testing.T) {
	mem := blobtest.MemDisks(6)
	keys := blobtest.NewKeyWrapper()
	probe := newStore(t, mem, "4+2", keys)
	pm, err := probe.Put(context.Background(), "lost", bytes.NewReader([]byte("x")))
	must(t, err)
	must(t, probe.Delete(context.Background(), pm))
	faulty := map[blobstore.DiskID]blobstore.Disk{}
	for id, d := range mem {
		faulty[id] = d
	}
	faulty[pm.Shards[2]] = blobtest.NewFaultDisk(mem[pm.Shards[2]]).Fail(blobtest.OpWrite, syscall.EIO)
	s := newStore(t, faulty, "4+2", keys)
	w, err := s.Create(context.Background(), "lost")
	must(t, err)
	data := randomData(8, 10*4*testBlock+7)
	_, err = w.Write(data[:5*4*testBlock+3])
	must(t, err)
	st, err := w.Checkpoint(context.Background())
	must(t, err)
	if fmt.Sprint(st.LostShards) != "[2]" {
		t.Fatalf("lost shards %v, want [2]", st.LostShards)
	}
	must(t, w.Close())
	s2 := newStore(t, mem, "4+2", keys) // the disk works again
	w, err = s2.Resume(context.Background(), st)
	must(t, err)
	_, err = w.Write(data[5*4*testBlock+3:])
	must(t, err)
	m, err := w.Commit(context.Background())
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || fmt.Sprint(hn.Shards) != "[2]" {
		t.Fatalf("commit: %v, want heal needed for shard 2", err)
	}
	// The failed shard's partial file is gone: only the committed leftover (the resumed
	// state's staged tail) is listed, until the manifest is recorded and released.
	if ups, err := s2.ListStaged(context.Background()); err != nil || len(ups) != 1 || !ups[0].Committed {
		t.Fatalf("staged after commit: %+v %v, want one committed leftover", ups, err)
	}
	must(t, s2.ReleaseStaged(context.Background(), m))
	if ups, err := s2.ListStaged(context.Background()); err != nil || len(ups) != 0 {
		t.Fatalf("staged after commit and release: %+v %v", ups, err)
	}
	m2, rep, err := s2.Heal(context.Background(), m)
	must(t, err)
	if fmt.Sprint(rep.Bad) != "[2]" {
		t.Fatalf("heal report %+v", rep)
	}
	var buf bytes.Buffer
	if err := s2.Get(context.Background(), m2, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("after heal: %v", err)
	}
}

// TestHealLeavesRemoteShards: a shard on another node's disk (up in the cluster map) is neither
// checked nor rebuilt locally; a shard on a disk the map says is down is rebuilt here.
func TestHealLeavesRemoteShards(t *testing.T) {
	mem := blobtest.MemDisks(7)
	six := map[blobstore.DiskID]blobstore.Disk{}
	for id, d := range mem {
		if id != "m6" {
			six[id] = d
		}
	}
	keys := blobtest.NewKeyWrapper()
	s := newStore(t, mem, "4+2", keys)
	cm := blobtest.ClusterMap(six)
	s.SetClusterMap(cm)
	data := randomData(9, 5*4*testBlock)
	m, err := s.Put(context.Background(), "remote", bytes.NewReader(data))
	must(t, err)
	remote := m
	remote.Shards = append([]blobstore.DiskID(nil), m.Shards...)
	remote.Shards[5] = "other-node-disk"
	cm.Sites[0].Nodes = append(cm.Sites[0].Nodes, blobstore.Node{ID: "n2", Disks: []blobstore.DiskInfo{{ID: "other-node-disk", FreeBytes: 1 << 40}}})
	s.SetClusterMap(cm)
	out, rep, err := s.Heal(context.Background(), remote)
	must(t, err)
	if fmt.Sprint(rep.Remote) != "[5]" || len(rep.Bad) != 0 || out.Shards[5] != "other-node-disk" {
		t.Fatalf("heal of a remote shard: %+v, shards %v", rep, out.Shards)
	}
	// The same disk marked down: its shard is rebuilt on the spare local disk.
	cm.Sites[0].Nodes[1].Disks[0].State = blobstore.DiskDown
	cm.Sites[0].Nodes[0].Disks = append(cm.Sites[0].Nodes[0].Disks, blobstore.DiskInfo{ID: "m6", FreeBytes: 1 << 40})
	s.SetClusterMap(cm)
	out, rep, err = s.Heal(context.Background(), remote)
	must(t, err)
	if fmt.Sprint(rep.Moved) != "[5]" || out.Shards[5] != "m6" {
		t.Fatalf("heal of a down disk's shard: %+v, shards %v", rep, out.Shards)
	}
	var buf bytes.Buffer
	if err := s.Get(context.Background(), out, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("get after moving the shard: %v", err)
	}
}
