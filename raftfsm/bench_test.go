package raftfsm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// reportLatencies reports p50/p99 in microseconds and commits per second.
func reportLatencies(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "commits/s")
}

// BenchmarkProposeOneNode: 256-byte batches committed on a one-node store (synced Raft log,
// the real FSM and journal), from 1 and 64 concurrent clients. Compare p50 with
// BenchmarkAppendFsync4K (docs/performance.md: at most 1.5×).
func BenchmarkProposeOneNode(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			addr, trans := raft.NewInmemTransport("")
			cfg := DefaultConfig()
			cfg.NodeID, cfg.Dir = "bench", b.TempDir()
			s, err := Open(cfg, Deps{Transport: trans, Logger: testLogger(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.BootstrapSelf(addr); err != nil {
				b.Fatal(err)
			}
			waitLeader(b, s)
			value := make([]byte, 256-64) // with key and audit, ~256 bytes encoded
			var next atomic.Int64
			lats := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						batch := putBatch(fmt.Sprintf("bench/%d/%d", c, i%1024), "")
						batch.Ops[0].Value = value
						t0 := time.Now()
						if _, err := s.Propose(context.Background(), batch); err != nil {
							b.Error(err)
							return
						}
						lats[c] = append(lats[c], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			reportLatencies(b, slices.Concat(lats...), elapsed)
			// Anonymous memory only: Badger's mmap'd files are page cache the kernel reclaims.
			if rss := procStatusMiB("RssAnon"); rss > 0 {
				b.ReportMetric(rss, "rss-anon-MiB")
			}
			b.ReportMetric(procStatusMiB("RssFile"), "rss-file-MiB")
		})
	}
}

// BenchmarkAppendFsync4K is the baseline of BenchmarkProposeOneNode: append 4 KiB to a file
// in the same temporary directory and fsync it.
func BenchmarkAppendFsync4K(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "append"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatencies(b, lat, elapsed)
}

// procStatusMiB returns a field of /proc/self/status in MiB, 0 when unavailable.
func procStatusMiB(field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
