package tustest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"

	"valise/httpd/tus"
)

func open(t *testing.T, dir string) *Backend {
	t.Helper()
	b, err := Open(Config{Dir: dir, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failingReader yields data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestWrite pins the Write contract on the file backend: what becomes durable and what is
// rolled back, checked on the offset and on the file.
func TestWrite(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789abcdef")
	good := sha256.Sum256(data[4:])
	bad := sha256.Sum256(data)
	errCut := errors.New("cut")
	for _, tc := range []struct {
		name    string
		chunk   func() tus.Chunk
		wantErr error
		wantOff int64
	}{
		{"clean chunk kept", func() tus.Chunk { return tus.NewChunk(bytes.NewReader(data[4:]), 12, nil) }, nil, 16},
		{"verified chunk kept", func() tus.Chunk {
			return tus.NewChunk(bytes.NewReader(data[4:]), 12, &tus.Checksum{Algorithm: "sha256", Digest: good[:]})
		}, nil, 16},
		{"bad checksum rolled back", func() tus.Chunk {
			return tus.NewChunk(bytes.NewReader(data[4:]), 12, &tus.Checksum{Algorithm: "sha256", Digest: bad[:]})
		}, tus.ErrChecksumMismatch, 4},
		{"cut without checksum keeps what came", func() tus.Chunk {
			return tus.NewChunk(&failingReader{data: data[4:9], err: errCut}, 12, nil)
		}, errCut, 9},
		{"cut with checksum rolled back", func() tus.Chunk {
			return tus.NewChunk(&failingReader{data: data[4:9], err: errCut}, 12, &tus.Checksum{Algorithm: "sha256", Digest: good[:]})
		}, tus.ErrIncomplete, 4},
		{"body past the length rolled back", func() tus.Chunk {
			return tus.NewChunk(bytes.NewReader(append(bytes.Clone(data[4:]), 'x')), 12, nil)
		}, tus.ErrTooLarge, 4},
		{"chunk allowing more than the upload rolled back", func() tus.Chunk {
			return tus.NewChunk(bytes.NewReader(append(bytes.Clone(data[4:]), 'x')), 1<<30, nil)
		}, tus.ErrTooLarge, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, t.TempDir())
			id, err := b.Create(ctx, tus.CreateRequest{Principal: "p", Length: 16, Metadata: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			if off, err := b.Write(ctx, "p", id, 0, tus.NewChunk(bytes.NewReader(data[:4]), 16, nil)); err != nil || off != 4 {
				t.Fatalf("first chunk: %d, %v", off, err)
			}
			off, err := b.Write(ctx, "p", id, 4, tc.chunk())
			if !errors.Is(err, tc.wantErr) || off != tc.wantOff {
				t.Fatalf("Write = %d, %v; want %d, %v", off, err, tc.wantOff, tc.wantErr)
			}
			info, err := b.Info(ctx, "p", id)
			if err != nil || info.Offset != tc.wantOff {
				t.Fatalf("Info = %+v, %v; want offset %d", info, err, tc.wantOff)
			}
			got, err := os.ReadFile(b.DataPath(id))
			if err != nil || !bytes.Equal(got, data[:tc.wantOff]) {
				t.Fatalf("file holds %q, %v; want %q", got, err, data[:tc.wantOff])
			}
		})
	}
}

// TestOpenDropsBytesPastDurable: bytes a crash left past the durable offset are truncated
// when the directory is opened again.
func TestOpenDropsBytesPastDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir)
	id, err := b.Create(ctx, tus.CreateRequest{Principal: "p", Length: 100, Metadata: map[string]string{"filename": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, "p", id, 0, tus.NewChunk(bytes.NewReader([]byte("durable")), 100, nil)); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(b.DataPath(id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "torn write"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	again := open(t, dir)
	info, err := again.Info(ctx, "p", id)
	if err != nil || info.Offset != 7 || info.Metadata["filename"] != "a" {
		t.Fatalf("Info after reopening = %+v, %v", info, err)
	}
	if got, _ := os.ReadFile(again.DataPath(id)); string(got) != "durable" {
		t.Fatalf("file holds %q after reopening", got)
	}
	if _, err := again.Info(ctx, "q", id); !errors.Is(err, tus.ErrNotFound) {
		t.Fatalf("another principal's Info: %v, want ErrNotFound", err)
	}
}
