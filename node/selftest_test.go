package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// failAfter fails once more than n bytes were written.
type failAfter struct{ n int64 }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= int64(len(p)); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int64
	}{{"empty", 0}, {"one byte", 1}, {"a buffer and a bit", 1<<20 + 17}, {"several buffers", 5 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			sum, err := generate(ctx, "selftest-x", tc.size, &out)
			if err != nil {
				t.Fatal(err)
			}
			if int64(out.Len()) != tc.size || sha256.Sum256(out.Bytes()) != sum {
				t.Fatalf("wrote %d bytes with sum %x; want %d bytes hashing to the returned sum", out.Len(), sha256.Sum256(out.Bytes()), tc.size)
			}
			// The stream is a function of the ID: the same ID gives the same bytes.
			again, _ := generate(ctx, "selftest-x", tc.size, io.Discard)
			other, _ := generate(ctx, "selftest-y", tc.size, io.Discard)
			if again != sum || (tc.size > 0 && other == sum) {
				t.Fatal("the stream is not a deterministic function of the ID")
			}
		})
	}
	t.Run("write error", func(t *testing.T) {
		if _, err := generate(ctx, "selftest-x", 8<<20, &failAfter{n: 3 << 20}); err == nil || err.Error() != "disk full" {
			t.Fatalf("generate = %v, want the writer's error", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := generate(cctx, "selftest-x", 8<<20, io.Discard); !errors.Is(err, context.Canceled) {
			t.Fatalf("generate = %v, want context.Canceled", err)
		}
	})
}
