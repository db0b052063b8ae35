package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

const testBlock = 64

// env is a store over directory disks in a temporary folder.
type env struct {
	t     *testing.T
	cfg   blobstore.Config
	disks map[blobstore.DiskID]blobstore.Disk
	dirs  map[blobstore.DiskID]string
	keys  *blobtest.KeyWrapper
	s     *blobstore.Store
}

func newEnv(t *testing.T, ndisks int, layout string) *env {
	t.Helper()
	disks, dirs := blobtest.DirDisks(t, t.TempDir(), ndisks)
	e := &env{t: t, disks: disks, dirs: dirs, keys: blobtest.NewKeyWrapper()}
	e.cfg = blobstore.DefaultConfig()
	e.cfg.BlockSize = testBlock
	e.cfg.Layout = layout
	e.cfg.Workers = 2
	e.cfg.MinFreeBytes = 0
	e.s = e.open()
	return e
}

// open returns a new Store instance over the same disks and keys.
func (e *env) open() *blobstore.Store {
	e.t.Helper()
	s, err := blobstore.New(e.cfg, blobtest.ClusterMap(e.disks), e.disks, nil, e.keys, blobtest.Logger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func (e *env) put(id blobstore.FileID, data []byte) blobstore.Manifest {
	e.t.Helper()
	m, err := e.s.Put(context.Background(), id, bytes.NewReader(data))
	if err != nil {
		e.t.Fatalf("put %s: %v", id, err)
	}
	if m.Size != int64(len(data)) || m.SHA256 != sha256.Sum256(data) {
		e.t.Fatalf("put %s: manifest size %d sha %x, want %d %x", id, m.Size, m.SHA256, len(data), sha256.Sum256(data))
	}
	return m
}

// get reads the whole file and returns its bytes and Get's error.
func (e *env) get(m blobstore.Manifest) ([]byte, error) {
	var buf bytes.Buffer
	err := e.s.Get(context.Background(), m, &buf, 0, -1)
	return buf.Bytes(), err
}

// shardPath returns the committed shard file of shard i.
func (e *env) shardPath(m blobstore.Manifest, i int) string {
	e.t.Helper()
	dir := e.dirs[m.Shards[i]]
	var found string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, fmt.Sprintf("%s.%d.shard", m.FileID, i)) {
			found = p
		}
		return nil
	})
	if found == "" {
		e.t.Fatalf("no shard file %d of %s", i, m.FileID)
	}
	return found
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// textData is compressible, text-like data.
func textData(seed uint64, n int) []byte {
	words := strings.Fields("le la les un une des transfert fichier sécurisé valise envoi destinataire lien mot de passe the file secure transfer upload download chiffré erasure coding")
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func TestPutGetSizes(t *testing.T) {
	e := newEnv(t, 6, "auto")
	stripe := 4 * testBlock
	sizes := []struct {
		name string
		n    int
	}{
		{"empty", 0}, {"one byte", 1}, {"block-1", testBlock - 1}, {"block", testBlock}, {"block+1", testBlock + 1},
		{"stripe", stripe}, {"stripe+1", stripe + 1}, {"several stripes", 5*stripe + 17}, {"random", 1000 + rand.IntN(5000)},
	}
	for _, sz := range sizes {
		for _, kind := range []string{"random", "text"} {
			t.Run(sz.name+"/"+kind, func(t *testing.T) {
				data := randomData(uint64(sz.n), sz.n)
				if kind == "text" {
					data = textData(uint64(sz.n), sz.n)
				}
				id := blobstore.FileID(fmt.Sprintf("f-%d-%s", sz.n, kind))
				m := e.put(id, data)
				if m.Layout != (blobstore.Layout{K: 4, M: 2}) {
					t.Fatalf("layout %s, want 4+2 on 6 disks", m.Layout)
				}
				got, err := e.get(m)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes differ from the %d written", len(got), len(data))
				}
				r, err := e.s.Open(context.Background(), m)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				all, err := io.ReadAll(io.LimitReader(r, int64(len(data))+10))
				if err != nil || !bytes.Equal(all, data) {
					t.Fatalf("Reader: %v, equal %v", err, bytes.Equal(all, data))
				}
				if err := r.HealNeeded(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestRangeReads(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	data := textData(7, 11*4*testBlock+33)
	data = append(data, randomData(8, 3*testBlock)...)
	m := e.put("ranges", data)
	r, err := e.s.Open(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := int64(len(data))
	cases := []struct {
		name        string
		off, length int64
	}{
		{"start", 0, 10}, {"whole", 0, n}, {"one block", testBlock, testBlock}, {"across blocks", testBlock - 3, 7},
		{"across stripes", 4*testBlock - 5, 10}, {"tail", n - 9, 9}, {"last byte", n - 1, 1}, {"empty at end", n, 0},
		{"middle long", 123, 5 * 4 * testBlock},
	}
	for i := range 20 {
		off := rand.Int64N(n)
		cases = append(cases, struct {
			name        string
			off, length int64
		}{fmt.Sprintf("random %d", i), off, rand.Int64N(n - off + 1)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := data[tc.off : tc.off+tc.length]
			var buf bytes.Buffer
			if err := e.s.Get(context.Background(), m, &buf, tc.off, tc.length); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("Get(%d, %d) differs", tc.off, tc.length)
			}
			p := make([]byte, tc.length)
			if k, err := r.ReadAt(p, tc.off); (err != nil && err != io.EOF) || k != int(tc.length) || !bytes.Equal(p, want) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v", tc.off, tc.length, k, err)
			}
			if _, err := r.Seek(tc.off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			q := make([]byte, tc.length)
			if _, err := io.ReadFull(r, q); err != nil || !bytes.Equal(q, want) {
				t.Fatalf("Seek+Read(%d, %d): %v", tc.off, tc.length, err)
			}
		})
	}
}

// damage is a way of losing one shard.
type damage struct {
	name string
	do   func(e *env, m blobstore.Manifest, i int, foreign blobstore.Manifest)
}

var damages = []damage{
	{"deleted", func(e *env, m blobstore.Manifest, i int, _ blobstore.Manifest) {
		must(e.t, os.Remove(e.shardPath(m, i)))
	}},
	{"truncated", func(e *env, m blobstore.Manifest, i int, _ blobstore.Manifest) {
		p := e.shardPath(m, i)
		st, err := os.Stat(p)
		must(e.t, err)
		must(e.t, os.Truncate(p, st.Size()/2))
	}},
	{"flipped bytes", func(e *env, m blobstore.Manifest, i int, _ blobstore.Manifest) {
		p := e.shardPath(m, i)
		b, err := os.ReadFile(p)
		must(e.t, err)
		for off := 600; off < len(b); off += 97 {
			b[off] ^= 0x40
		}
		must(e.t, os.WriteFile(p, b, 0o600))
	}},
	{"missing directory", func(e *env, m blobstore.Manifest, i int, _ blobstore.Manifest) {
		must(e.t, os.RemoveAll(filepath.Dir(e.shardPath(m, i))))
	}},
	{"foreign shard", func(e *env, m blobstore.Manifest, i int, foreign blobstore.Manifest) {
		// Another file's shard (same index) copied over this one.
		b, err := os.ReadFile(e.shardPath(foreign, i))
		must(e.t, err)
		must(e.t, os.WriteFile(e.shardPath(m, i), b, 0o600))
	}},
	{"other cluster", func(e *env, m blobstore.Manifest, i int, _ blobstore.Manifest) {
		// The same file ID written by another cluster: its shard file is refused.
		cfg := e.cfg
		cfg.ClusterID = "other-cluster"
		disks, dirs := blobtest.DirDisks(e.t, e.t.TempDir(), 6)
		o, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, e.keys, blobtest.Logger(e.t))
		must(e.t, err)
		defer o.Close()
		om, err := o.Put(context.Background(), m.FileID, bytes.NewReader(randomData(99, 3000)))
		must(e.t, err)
		oe := &env{t: e.t, dirs: dirs}
		src := oe.shardPath(om, i)
		b, err := os.ReadFile(src)
		must(e.t, err)
		must(e.t, os.WriteFile(e.shardPath(m, i), b, 0o600))
	}},
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoseShardsReadAndHeal(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	foreignData := randomData(1234, 9*4*testBlock)
	foreign := e.put("foreign", foreignData)
	for _, dmg := range damages {
		for lost := 1; lost <= 2; lost++ {
			t.Run(fmt.Sprintf("%s/%d shards", dmg.name, lost), func(t *testing.T) {
				e.t = t
				data := textData(uint64(lost), 9*4*testBlock+5)
				copy(data[100:], randomData(3, 4*testBlock))
				id := blobstore.FileID(fmt.Sprintf("lose-%s-%d", strings.ReplaceAll(dmg.name, " ", "_"), lost))
				m := e.put(id, data)
				victims := rand.Perm(6)[:lost]
				for _, i := range victims {
					dmg.do(e, m, i, foreign)
				}
				got, err := e.get(m)
				onlyParity := true
				for _, v := range victims {
					onlyParity = onlyParity && v >= m.Layout.K
				}
				// A read uses the data shards: damage inside parity pieces is for Heal and
				// Scrub to find (a missing or foreign parity file is seen at open).
				parityContent := onlyParity && (dmg.name == "truncated" || dmg.name == "flipped bytes")
				if !errors.Is(err, blobstore.ErrHealNeeded) && !(parityContent && err == nil) {
					t.Fatalf("Get after losing shards %v: %v, want ErrHealNeeded", victims, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("degraded read differs")
				}
				// The Reader says so too.
				r, err := e.s.Open(context.Background(), m)
				must(t, err)
				all, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(all, data) {
					t.Fatalf("degraded Reader: %v", err)
				}
				if err := r.Close(); !errors.Is(err, blobstore.ErrHealNeeded) && !parityContent {
					t.Fatalf("Reader.Close: %v, want ErrHealNeeded", err)
				}
				m2, rep, err := e.s.Heal(context.Background(), m)
				must(t, err)
				if len(rep.Bad) != lost {
					t.Fatalf("heal found bad shards %v, want %d (%v)", rep.Bad, lost, victims)
				}
				got, err = e.get(m2)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read after heal: %v", err)
				}
				// Every shard is healthy again: a second heal finds nothing.
				if _, rep, err := e.s.Heal(context.Background(), m2); err != nil || len(rep.Bad) != 0 {
					t.Fatalf("second heal: %v %v", rep.Bad, err)
				}
				// The foreign file was not hurt.
				if got, err := e.get(foreign); err != nil || !bytes.Equal(got, foreignData) {
					t.Fatalf("foreign file: %v", err)
				}
			})
		}
	}
}

func TestTooManyLost(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	data := randomData(5, 7*4*testBlock)
	m := e.put("toomany", data)
	for _, i := range []int{0, 3, 5} {
		must(t, os.Remove(e.shardPath(m, i)))
	}
	var buf bytes.Buffer
	err := e.s.Get(context.Background(), m, &buf, 0, -1)
	var tl *blobstore.TooManyLostError
	if !errors.Is(err, blobstore.ErrTooManyLost) || !errors.As(err, &tl) {
		t.Fatalf("Get: %v, want ErrTooManyLost", err)
	}
	if tl.FileID != "toomany" || fmt.Sprint(tl.Lost) != "[0 3 5]" || !strings.Contains(err.Error(), "toomany") {
		t.Fatalf("error names file %s shards %v: %v", tl.FileID, tl.Lost, err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes returned from an unreadable file", buf.Len())
	}
	r, err := e.s.Open(context.Background(), m)
	must(t, err)
	defer r.Close()
	if _, err := io.ReadAll(r); !errors.Is(err, blobstore.ErrTooManyLost) {
		t.Fatalf("Reader: %v", err)
	}
	if _, _, err := e.s.Heal(context.Background(), m); !errors.Is(err, blobstore.ErrTooManyLost) {
		t.Fatalf("Heal: %v", err)
	}
}

func TestResumeWithNewStore(t *testing.T) {
	stripe := 4 * testBlock
	data := textData(11, 13*stripe+77)
	copy(data[2*stripe:], randomData(12, 3*stripe))
	for _, tc := range []struct {
		name  string
		stops []int // offsets of checkpoints where the writer is dropped and resumed
	}{
		{"mid stripe", []int{stripe + 10}},
		{"stripe boundary", []int{3 * stripe}},
		{"block boundary", []int{2*stripe + testBlock}},
		{"several", []int{1, testBlock, stripe - 1, 5*stripe + 3, 9 * stripe, 13 * stripe}},
		{"at the end", []int{len(data)}},
		{"at zero", []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 6, "4+2")
			id := blobstore.FileID("resume")
			oneShot := e.put("oneshot", data)
			s := e.s
			w, err := s.Create(context.Background(), id)
			must(t, err)
			pos := 0
			for _, stop := range tc.stops {
				_, err := w.Write(data[pos:stop])
				must(t, err)
				pos = stop
				st, err := w.Checkpoint(context.Background())
				must(t, err)
				if st.Offset != int64(stop) {
					t.Fatalf("checkpoint offset %d, want %d", st.Offset, stop)
				}
				// Write a little more, unacknowledged, then crash: it is rolled back.
				_, err = w.Write(randomData(uint64(stop), 3*stripe))
				must(t, err)
				must(t, w.Close())
				b, err := st.MarshalBinary()
				must(t, err)
				var st2 blobstore.ResumeState
				must(t, st2.UnmarshalBinary(b))
				s = e.open() // a new Store instance, as after a restart
				w, err = s.Resume(context.Background(), st2)
				must(t, err)
				if w.Offset() != int64(stop) {
					t.Fatalf("resumed at %d, want %d", w.Offset(), stop)
				}
			}
			_, err = w.Write(data[pos:])
			must(t, err)
			m, err := w.Commit(context.Background())
			must(t, err)
			if m.SHA256 != oneShot.SHA256 || m.Size != oneShot.Size {
				t.Fatalf("resumed put: sha %x size %d, one-shot %x %d", m.SHA256, m.Size, oneShot.SHA256, oneShot.Size)
			}
			var buf bytes.Buffer
			must(t, s.Get(context.Background(), m, &buf, 0, -1))
			if !bytes.Equal(buf.Bytes(), data) {
				t.Fatal("resumed file differs")
			}
			for _, r := range m.Generations {
				if r.Gen < 1 {
					t.Fatalf("generations %v", m.Generations)
				}
			}
			if len(tc.stops) > 0 && tc.stops[0] > 0 && len(m.Generations) < 2 && tc.stops[0] < len(data)-stripe {
				t.Fatalf("generations %v: a resume must start a new generation", m.Generations)
			}
			ups, err := s.ListStaged(context.Background())
			must(t, err)
			for _, u := range ups {
				if !u.Committed {
					t.Fatalf("staged upload left after commit, not marked committed: %+v", u)
				}
			}
			must(t, s.ReleaseStaged(context.Background(), m))
			if ups, err := s.ListStaged(context.Background()); err != nil || len(ups) != 0 {
				t.Fatalf("staged uploads left after commit and release: %+v, %v", ups, err)
			}
		})
	}
}

func TestAbortAndStaged(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	w, err := e.s.Create(context.Background(), "abandoned")
	must(t, err)
	_, err = w.Write(randomData(1, 5*4*testBlock+9))
	must(t, err)
	_, err = w.Checkpoint(context.Background())
	must(t, err)
	must(t, w.Close())
	ups, err := e.s.ListStaged(context.Background())
	must(t, err)
	if len(ups) != 1 || ups[0].FileID != "abandoned" || ups[0].Bytes == 0 {
		t.Fatalf("ListStaged: %+v", ups)
	}
	keep := e.put("kept", randomData(2, 1000))
	must(t, e.s.CleanStaged(context.Background(), func(id blobstore.FileID) bool { return false }))
	if ups, _ := e.s.ListStaged(context.Background()); len(ups) != 0 {
		t.Fatalf("after CleanStaged: %+v", ups)
	}
	if _, err := e.get(keep); err != nil {
		t.Fatalf("committed file hurt by CleanStaged: %v", err)
	}
	w, err = e.s.Create(context.Background(), "aborted")
	must(t, err)
	_, err = w.Write(randomData(3, 3*4*testBlock+1))
	must(t, err)
	_, err = w.Checkpoint(context.Background())
	must(t, err)
	must(t, w.Abort(context.Background()))
	if n := countFiles(t, e, "aborted"); n != 0 {
		t.Fatalf("%d files left after Abort", n)
	}
	must(t, e.s.Delete(context.Background(), keep))
	if n := countFiles(t, e, "kept"); n != 0 {
		t.Fatalf("%d files left after Delete", n)
	}
}

// countFiles counts files whose name contains id on every disk.
func countFiles(t *testing.T, e *env, id string) int {
	n := 0
	for _, dir := range e.dirs {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(filepath.Base(p), id) {
				n++
			}
			return nil
		})
	}
	return n
}

func TestConcurrentPutGet(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 4 {
				data := randomData(uint64(g*100+i), 1+rand.IntN(20*testBlock))
				id := blobstore.FileID(fmt.Sprintf("c-%d-%d", g, i))
				m, err := e.s.Put(context.Background(), id, bytes.NewReader(data))
				if err != nil {
					errs <- err
					return
				}
				var buf bytes.Buffer
				if err := e.s.Get(context.Background(), m, &buf, 0, -1); err != nil || !bytes.Equal(buf.Bytes(), data) {
					errs <- fmt.Errorf("get %s: %v equal=%v", id, err, bytes.Equal(buf.Bytes(), data))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestScrub(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	var ms []blobstore.Manifest
	datas := map[blobstore.FileID][]byte{}
	for i := range 5 {
		data := textData(uint64(i), i*3*4*testBlock+i)
		id := blobstore.FileID(fmt.Sprintf("scrub-%d", i))
		datas[id] = data
		ms = append(ms, e.put(id, data))
	}
	// Bitrot in a parity shard of file 2 (a read would not notice), a lost shard of file 3.
	p := e.shardPath(ms[2], 5)
	b, err := os.ReadFile(p)
	must(t, err)
	b[len(b)-3] ^= 1
	must(t, os.WriteFile(p, b, 0o600))
	must(t, os.Remove(e.shardPath(ms[3], 1)))
	var progress []blobstore.ScrubProgress
	rep, err := e.s.Scrub(context.Background(), ms, func(p blobstore.ScrubProgress) { progress = append(progress, p) })
	must(t, err)
	if rep.Files != 5 || rep.Healthy != 3 || len(rep.Healed) != 2 || len(rep.Failed) != 0 {
		t.Fatalf("scrub report %+v", rep)
	}
	if len(progress) != 5 || progress[4].FilesDone != 5 || progress[4].BadShards != 2 {
		t.Fatalf("progress %+v", progress)
	}
	rep, err = e.s.Scrub(context.Background(), ms, nil)
	must(t, err)
	if rep.Healthy != 5 {
		t.Fatalf("second scrub %+v", rep)
	}
	for _, m := range ms {
		if got, err := e.get(m); err != nil || !bytes.Equal(got, datas[m.FileID]) {
			t.Fatalf("%s after scrub: %v", m.FileID, err)
		}
	}
}

// TestCompressionSavesSpace checks that compressible blocks are stored compressed (shard files
// are sparse: a short piece leaves its slot's tail unallocated) and random ones raw.
func TestCompressionSavesSpace(t *testing.T) {
	disks, dirs := blobtest.DirDisks(t, t.TempDir(), 6)
	cfg := blobstore.DefaultConfig()
	cfg.BlockSize = 256 << 10
	cfg.Layout = "4+2"
	cfg.MinFreeBytes = 0
	s, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, blobtest.NewKeyWrapper(), blobtest.Logger(t))
	must(t, err)
	defer s.Close()
	allocated := func(id string) int64 {
		var n int64
		for _, dir := range dirs {
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasPrefix(filepath.Base(p), id+".") {
					var st syscall.Stat_t
					if syscall.Stat(p, &st) == nil {
						n += st.Blocks * 512
					}
				}
				return nil
			})
		}
		return n
	}
	const size = 4 << 20
	for _, tc := range []struct {
		name     string
		data     []byte
		min, max float64 // allocated bytes / size
	}{
		{"text", textData(1, size), 0.2, 1.0},
		{"random", randomData(1, size), 1.45, 1.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := s.Put(context.Background(), blobstore.FileID(tc.name), bytes.NewReader(tc.data))
			must(t, err)
			r := float64(allocated(tc.name)) / size
			if r < tc.min || r > tc.max {
				t.Fatalf("%s: %.2f bytes on disk per byte, want [%.2f, %.2f]", tc.name, r, tc.min, tc.max)
			}
			var buf bytes.Buffer
			must(t, s.Get(context.Background(), m, &buf, 0, -1))
			if !bytes.Equal(buf.Bytes(), tc.data) {
				t.Fatal("read back differs")
			}
		})
	}
}

// TestCheckpointKeepsTwoStagedTails: staged tails do not pile up over many checkpoints.
func TestCheckpointKeepsTwoStagedTails(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	w, err := e.s.Create(context.Background(), "many")
	must(t, err)
	var data []byte
	for i := range 10 {
		chunk := randomData(uint64(i), 3*testBlock+5)
		data = append(data, chunk...)
		_, err := w.Write(chunk)
		must(t, err)
		_, err = w.Checkpoint(context.Background())
		must(t, err)
		staged := 0
		for _, dir := range e.dirs {
			names, _ := filepath.Glob(filepath.Join(dir, "staged", "*"))
			staged += len(names)
		}
		if staged > 2*3 {
			t.Fatalf("after checkpoint %d: %d staged files, want at most 2 tails × 3 copies", i, staged)
		}
	}
	m, err := w.Commit(context.Background())
	must(t, err)
	if got, err := e.get(m); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if n := countFiles(t, e, "many"); n != 6+2*3 {
		t.Fatalf("%d files after commit, want the 6 shards and the last 2 tails × 3 copies", n)
	}
	must(t, e.s.ReleaseStaged(context.Background(), m))
	if n := countFiles(t, e, "many"); n != 6 {
		t.Fatalf("%d files after ReleaseStaged, want the 6 shards", n)
	}
}

// cancelAfter cancels its context after n bytes were read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p[:min(len(p), 100)])
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func TestPutCanceled(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := e.s.Put(ctx, "canceled", &cancelAfter{r: bytes.NewReader(randomData(1, 50*testBlock)), n: 10 * testBlock, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v, want context.Canceled", err)
	}
	if n := countFiles(t, e, "canceled"); n != 0 {
		t.Fatalf("%d files left after a canceled put", n)
	}
}

// TestCorruptParityDuringRebuild: a data piece is lost and a parity piece used to rebuild it is
// corrupt. The first, unchecked rebuild fails authentication; the strict retry finds the bad
// parity by its checksum and rebuilds from the other one. Never a wrong byte.
func TestCorruptParityDuringRebuild(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	data := randomData(77, 6*4*testBlock+11)
	m := e.put("corrupt-parity", data)
	must(t, os.Remove(e.shardPath(m, 1)))
	p := e.shardPath(m, 4)
	b, err := os.ReadFile(p)
	must(t, err)
	for off := 600; off < len(b); off += 131 {
		b[off] ^= 0x10
	}
	must(t, os.WriteFile(p, b, 0o600))
	got, err := e.get(m)
	var hn *blobstore.HealNeededError
	if !errors.As(err, &hn) || !bytes.Equal(got, data) {
		t.Fatalf("get: %v, equal %v", err, bytes.Equal(got, data))
	}
	if fmt.Sprint(hn.Shards) != "[1 4]" {
		t.Fatalf("heal needed for %v, want [1 4]", hn.Shards)
	}
}
