package upload

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"valise/blobstore"
	"valise/internal/testlog"
	"valise/transfer"
	"valise/transfer/transfertest"
)

// BenchmarkUploaderPut uploads one file (VALISE_BENCH_UPLOAD_MIB, default 256 MiB) through
// Pipeline.Write in 64 MiB chunks, each made durable, with the real metadata, a production
// blobstore layout (1 MiB blocks, 4+2 over six directories, fsync'd) and a real clamd
// following the stream. It reports the upload's rate to the final Write's return
// (write-MB/s: what the client waits for) and to the verdict (verdict-MB/s, through
// WaitVerdict), and the seconds of the final Write and of the wait for the verdict after it.
func BenchmarkUploaderPut(b *testing.B) {
	size := int64(256) << 20
	if v := os.Getenv("VALISE_BENCH_UPLOAD_MIB"); v != "" {
		mib, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mib < 1 {
			b.Fatalf("VALISE_BENCH_UPLOAD_MIB=%q: want a positive number of MiB", v)
		}
		size = mib << 20
	}
	const chunkSize = 64 << 20
	d := startClamd(b)
	meta := newMetadata(b)
	bs := benchBlobstore(b)
	svc, err := transfer.New(transfer.DefaultConfig(), transfer.Deps{Store: meta, Blobs: transfer.NewStoreBlobs(bs), Hasher: testHasher{}, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex // guards live and files: OnFinished runs on the background scan's goroutine
	var live, files int
	cfg := DefaultConfig()
	if v := os.Getenv("VALISE_BENCH_TEE_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib < 0 {
			b.Fatalf("VALISE_BENCH_TEE_MIB=%q", v)
		}
		cfg.TeeBuffer = mib << 20
	}
	cfg.OnFinished = func(_ context.Context, f Finished) {
		mu.Lock()
		defer mu.Unlock()
		files++
		if f.Live {
			live++
		}
	}
	up, err := New(cfg, svc, bs, d, testlog.New(b, slog.LevelInfo))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { up.Close() })
	src := make([]byte, chunkSize)
	rand.NewChaCha8([32]byte{42}).Read(src)
	ctx := b.Context()
	// A node's clamd is long-lived: its first scan, much slower, is not the upload's.
	if v, err := d.Client().Scan(ctx, bytes.NewReader(src)); err != nil || !v.IsClean() {
		b.Fatalf("warm-up scan: %v, %v", v, err)
	}

	// final: the completing Writes (last chunk, commit, record); toWrite: from Create to the
	// final Write's return; toVerdict: from Create to WaitVerdict's return.
	var final, toWrite, toVerdict time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		t00 := time.Now()
		id, err := up.Create(ctx, "bench", size, map[string]string{"filename": fmt.Sprintf("bench-%d.bin", i)})
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < size; {
			n := min(chunkSize, size-off)
			t0 := time.Now()
			got, err := up.Write(ctx, "bench", id, off, newChunk(src[:n]))
			if err != nil {
				b.Fatalf("write at %d: %v", off, err)
			}
			if got == size {
				final += time.Since(t0)
				toWrite += time.Since(t00)
			}
			off = got
		}
		v, err := up.WaitVerdict(ctx, "bench", id)
		toVerdict += time.Since(t00)
		if err != nil || v != transfer.VerdictClean {
			b.Fatalf("file %s: %v, verdict %s", id, err, v)
		}
	}
	elapsed := time.Since(start)
	total := float64(size) * float64(b.N)
	b.Logf("%d MiB × %d in %v: %.0f MB/s to the final Write's return, %.0f MB/s to the verdict",
		size>>20, b.N, elapsed.Round(time.Millisecond), total/toWrite.Seconds()/1e6, total/toVerdict.Seconds()/1e6)
	mu.Lock()
	b.ReportMetric(float64(live)/float64(max(files, 1)), "live-scan-ratio")
	mu.Unlock()
	b.ReportMetric(total/toWrite.Seconds()/1e6, "write-MB/s")
	b.ReportMetric(total/toVerdict.Seconds()/1e6, "verdict-MB/s")
	b.ReportMetric(final.Seconds()/float64(b.N), "final-write-s")
	b.ReportMetric((toVerdict-toWrite).Seconds()/float64(b.N), "verdict-wait-s")
}

// benchBlobstore is the production block pipeline over six temporary directories.
func benchBlobstore(b *testing.B) *blobstore.Store {
	b.Helper()
	disks := map[blobstore.DiskID]blobstore.Disk{}
	var infos []blobstore.DiskInfo
	for i := range 6 {
		id := blobstore.DiskID(fmt.Sprintf("d%d", i))
		d, err := blobstore.NewDirDisk(id, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		disks[id] = d
		infos = append(infos, blobstore.DiskInfo{ID: id, FreeBytes: 1 << 40})
	}
	cfg := blobstore.DefaultConfig()
	cfg.Layout = "4+2"
	cfg.MinFreeBytes = 0
	cmap := blobstore.ClusterMap{Sites: []blobstore.Site{{ID: "s1", Nodes: []blobstore.Node{{ID: "n1", Disks: infos}}}}}
	bs, err := blobstore.New(cfg, cmap, disks, nil, transfertest.Keys(), testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bs.Close() })
	return bs
}
