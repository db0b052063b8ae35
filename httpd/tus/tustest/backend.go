// Package tustest holds test helpers for tus: a real file-backed Backend (each upload a data
// file appended with a reused buffer, fsync'd at each chunk's end, truncated on rollback,
// with its state in a JSON file written atomically, so a Backend reopened on the same
// directory resumes) and a TLS fasthttp server on 127.0.0.1:0 with a matching client.
// The production backend (blobstore plus metadata) lives in the domain.
package tustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"valise/httpd/tus"
	"valise/userid"
)

// Config is the file backend's configuration.
type Config struct {
	// Dir holds the uploads: <id>.data and <id>.json.
	Dir string
	// MaxSize is the largest Upload-Length, for every principal.
	MaxSize int64
	// TTL is how long an upload lives after its creation or last chunk; 0: forever.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BufferSize is the copy buffer's size; 0 means 256 KiB.
	BufferSize int
}

// Backend is a tus.Backend on files in one directory.
type Backend struct {
	cfg Config

	mu      sync.Mutex         // guards uploads, each upload's fields, and writes
	uploads map[string]*upload // by ID
	writes  map[string]int     // Write calls returned, by upload ID
}

var _ tus.Backend = (*Backend)(nil)

// upload is one upload's state; its exported fields are its JSON file.
type upload struct {
	Principal userid.ID         `json:"principal"`
	Length    int64             `json:"length"`
	Offset    int64             `json:"offset"` // durable
	Expires   time.Time         `json:"expires"`
	Metadata  map[string]string `json:"metadata"`

	busy bool // a Write is in progress
}

// Open returns a Backend over cfg.Dir, loading the uploads already there and truncating
// each data file to its durable offset (what a crash may have left past it is dropped).
func Open(cfg Config) (*Backend, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 256 << 10
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create upload dir: %w", err)
	}
	b := &Backend{cfg: cfg, uploads: make(map[string]*upload), writes: make(map[string]int)}
	names, err := filepath.Glob(filepath.Join(cfg.Dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	for _, name := range names {
		id := strings.TrimSuffix(filepath.Base(name), ".json")
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read upload %s: %w", id, err)
		}
		u := new(upload)
		if err := json.Unmarshal(raw, u); err != nil {
			return nil, fmt.Errorf("decode upload %s: %w", id, err)
		}
		if err := os.Truncate(b.dataPath(id), u.Offset); err != nil {
			return nil, fmt.Errorf("truncate upload %s: %w", id, err)
		}
		b.uploads[id] = u
	}
	return b, nil
}

func (b *Backend) dataPath(id string) string { return filepath.Join(b.cfg.Dir, id+".data") }
func (b *Backend) infoPath(id string) string { return filepath.Join(b.cfg.Dir, id+".json") }

// DataPath returns the file holding the upload's bytes, for tests to read back.
func (b *Backend) DataPath(id string) string { return b.dataPath(id) }

// Writing reports whether a Write on the upload is in progress, for tests to poll.
func (b *Backend) Writing(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.uploads[id]
	return u != nil && u.busy
}

// Writes returns how many Write calls on the upload have returned, whatever their outcome,
// for tests to poll until a request the client abandoned has been dealt with.
func (b *Backend) Writes(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes[id]
}

// MaxSize implements tus.Backend.
func (b *Backend) MaxSize(userid.ID) int64 { return b.cfg.MaxSize }

// Create implements tus.Backend.
func (b *Backend) Create(_ context.Context, r tus.CreateRequest) (string, error) {
	if r.Length > b.cfg.MaxSize {
		return "", tus.ErrTooLarge
	}
	if name, ok := r.Metadata["filename"]; ok && (name == "" || strings.ContainsAny(name, "/\\\x00")) {
		return "", fmt.Errorf("filename %q: %w", name, tus.ErrBadMetadata)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("draw upload id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	u := &upload{Principal: r.Principal, Length: r.Length, Metadata: r.Metadata}
	if b.cfg.TTL > 0 {
		u.Expires = b.cfg.Now().Add(b.cfg.TTL)
	}
	f, err := os.OpenFile(b.dataPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create upload %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("create upload %s: %w", id, err)
	}
	if err := b.saveInfo(id, u); err != nil {
		return "", err
	}
	b.mu.Lock()
	b.uploads[id] = u
	b.mu.Unlock()
	return id, nil
}

// lookup returns the upload if principal may see it (with ErrExpired when it expired); b.mu
// must be held.
func (b *Backend) lookup(principal userid.ID, id string) (*upload, error) {
	u := b.uploads[id]
	if u == nil || u.Principal != principal {
		return nil, tus.ErrNotFound
	}
	if !u.Expires.IsZero() && !b.cfg.Now().Before(u.Expires) {
		return u, tus.ErrExpired
	}
	return u, nil
}

// Info implements tus.Backend.
func (b *Backend) Info(_ context.Context, principal userid.ID, id string) (tus.Info, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.lookup(principal, id)
	if err != nil {
		return tus.Info{}, err
	}
	return tus.Info{Offset: u.Offset, Length: u.Length, Expires: u.Expires, Metadata: u.Metadata}, nil
}

// Write implements tus.Backend.
func (b *Backend) Write(ctx context.Context, principal userid.ID, id string, offset int64, chunk tus.Chunk) (int64, error) {
	defer func() {
		b.mu.Lock()
		b.writes[id]++
		b.mu.Unlock()
	}()
	b.mu.Lock()
	u, err := b.lookup(principal, id)
	switch {
	case err != nil:
	case u.busy:
		err = tus.ErrLocked
	case u.Offset != offset:
		err = tus.ErrOffsetMismatch
	}
	if err != nil {
		b.mu.Unlock()
		return offset, err
	}
	u.busy = true
	length := u.Length
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		u.busy = false
		b.mu.Unlock()
	}()

	f, err := os.OpenFile(b.dataPath(id), os.O_WRONLY, 0)
	if err != nil {
		return offset, fmt.Errorf("open upload %s: %w", id, err)
	}
	defer f.Close()
	n, readErr, writeErr := b.copyChunk(ctx, f, offset, length-offset, chunk)
	verifyErr := chunk.Verify()
	if writeErr != nil || verifyErr != nil {
		if err := rollback(f, offset); err != nil {
			return offset, fmt.Errorf("roll back upload %s: %w", id, err)
		}
		if writeErr != nil {
			return offset, fmt.Errorf("write upload %s: %w", id, writeErr)
		}
		return offset, fmt.Errorf("verify chunk of upload %s: %w", id, verifyErr)
	}
	if err := f.Sync(); err != nil {
		_ = rollback(f, offset)
		return offset, fmt.Errorf("sync upload %s: %w", id, err)
	}
	b.mu.Lock()
	u.Offset = offset + n
	if b.cfg.TTL > 0 {
		u.Expires = b.cfg.Now().Add(b.cfg.TTL)
	}
	snapshot := *u
	b.mu.Unlock()
	if err := b.saveInfo(id, &snapshot); err != nil {
		return offset + n, err
	}
	if readErr != nil {
		return offset + n, fmt.Errorf("read chunk of upload %s: %w", id, readErr)
	}
	return offset + n, nil
}

// copyChunk writes the chunk at offset with one reused buffer, never more than room bytes.
func (b *Backend) copyChunk(ctx context.Context, f *os.File, offset, room int64, chunk tus.Chunk) (n int64, readErr, writeErr error) {
	buf := make([]byte, b.cfg.BufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return n, nil, err
		}
		m, err := chunk.Read(buf)
		if m > 0 {
			if n+int64(m) > room {
				return n, nil, tus.ErrTooLarge
			}
			if _, werr := f.WriteAt(buf[:m], offset+n); werr != nil {
				return n, nil, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil, nil
		}
		if err != nil {
			return n, err, nil
		}
	}
}

// rollback truncates the data file back to the durable offset.
func rollback(f *os.File, offset int64) error {
	if err := f.Truncate(offset); err != nil {
		return err
	}
	return f.Sync()
}

// saveInfo writes the upload's state atomically (temp file, fsync, rename).
func (b *Backend) saveInfo(id string, u *upload) error {
	raw, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode upload %s: %w", id, err)
	}
	tmp := b.infoPath(id) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save upload %s: %w", id, err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, b.infoPath(id))
	}
	if err != nil {
		return fmt.Errorf("save upload %s: %w", id, err)
	}
	return nil
}

// Terminate implements tus.Backend.
func (b *Backend) Terminate(_ context.Context, principal userid.ID, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, err := b.lookup(principal, id)
	if err != nil && !errors.Is(err, tus.ErrExpired) {
		return err
	}
	if u != nil && u.busy {
		return tus.ErrLocked
	}
	delete(b.uploads, id)
	if err := os.Remove(b.infoPath(id)); err != nil {
		return fmt.Errorf("terminate upload %s: %w", id, err)
	}
	if err := os.Remove(b.dataPath(id)); err != nil {
		return fmt.Errorf("terminate upload %s: %w", id, err)
	}
	return nil
}
