package scan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkScanThroughput streams 64 MiB of random data to a private clamd with the default
// limits (2 GiB − 1). With the built-in test signature only, this measures the protocol, the
// copy into clamd's temporary file and libclamav's walk, not a real database's matching.
func BenchmarkScanThroughput(b *testing.B) {
	dir, err := os.MkdirTemp("", "vscanb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := DefaultDaemonConfig()
	cfg.Dir = dir
	d, err := NewDaemon(cfg, testLoggerTB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		b.Skipf("no clamd: %v", err)
	}
	data := randomBytes(64<<20, 42)
	for _, chunk := range []int{64 << 10, DefaultChunkSize, 1 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			c := d.Client()
			c.ChunkSize = chunk
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				v, err := c.Scan(context.Background(), bytes.NewReader(data))
				if err != nil || v.Kind != KindClean {
					b.Fatalf("Scan = %v, %v", v, err)
				}
			}
		})
	}
}
