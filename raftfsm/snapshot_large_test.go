//go:build large

package raftfsm

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// countingSink counts what Persist writes and keeps nothing.
type countingSink struct{ n int64 }

func (s *countingSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *countingSink) ID() string                  { return "count" }
func (s *countingSink) Cancel() error               { return nil }
func (s *countingSink) Close() error                { return nil }

var _ raft.SnapshotSink = (*countingSink)(nil)

// heapPeak samples the Go heap until stop and returns the highest HeapInuse seen.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// TestLargeSnapshotMemoryFlat: persisting and restoring a 256 MiB state keeps the heap's
// growth well below the state's size (the stream is never buffered whole). It caught the
// Badger WriteBatch holding every value-log value in memory before committing.
func TestLargeSnapshotMemoryFlat(t *testing.T) {
	const batches, perBatch, valueSize = 256, 16, 64 << 10 // 256 MiB of values
	f := openTestFSM(t, t.TempDir())
	value := make([]byte, valueSize)
	for i := 0; i < batches; i++ {
		b := putBatch("x", "")
		b.Ops = b.Ops[:0]
		for j := 0; j < perBatch; j++ {
			value[0], value[1] = byte(i), byte(j)
			b.Ops = append(b.Ops, Op{Kind: OpPut, Key: fmt.Appendf(nil, "big/%04d/%02d", i, j), Value: value})
		}
		applyAt(t, f, uint64(i+1), b)
	}
	dst := openTestFSM(t, t.TempDir())
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	stop := make(chan struct{})
	peakCh := heapPeak(stop)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	var persistErr error
	go func() {
		defer wg.Done()
		sink := &pipeSink{w: pw}
		persistErr = snap.Persist(sink)
		snap.Release()
	}()
	restoreErr := dst.Restore(io.NopCloser(pr))
	wg.Wait()
	close(stop)
	peak := <-peakCh
	if persistErr != nil || restoreErr != nil {
		t.Fatalf("persist: %v, restore: %v", persistErr, restoreErr)
	}
	_, h1, _ := f.stateHash()
	_, h2, _ := dst.stateHash()
	if h1 != h2 {
		t.Fatal("restored state differs")
	}
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak %d MiB while streaming 256 MiB", base.HeapInuse>>20, peak>>20)
	// The restore opens a second Badger (its memtable arenas) beside the live one: a fixed
	// cost. Buffering the stream would add the state's whole size.
	if growth > 128<<20 {
		t.Fatalf("heap grew by %d MiB while streaming a 256 MiB state", growth>>20)
	}
}

// pipeSink is a raft.SnapshotSink writing into a pipe.
type pipeSink struct{ w *io.PipeWriter }

func (s *pipeSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *pipeSink) ID() string                  { return "pipe" }
func (s *pipeSink) Cancel() error               { return s.w.CloseWithError(fmt.Errorf("cancelled")) }
func (s *pipeSink) Close() error                { return s.w.Close() }
