package blobstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"valise/internal/logkey"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/reedsolomon"
)

// Store reads and writes files on the disks of the cluster: its local disks, and the others
// through its DiskSource. It is safe for concurrent use; each Writer and Reader it returns is
// used by one goroutine at a time.
type Store struct {
	cfg    Config
	logger *slog.Logger
	keys   KeyWrapper
	disks  map[DiskID]Disk // local disks; never changed after New
	remote DiskSource      // the other disks; nil: local disks only
	enc    *zstd.Encoder   // shared by every writer (EncodeAll is concurrency-safe)
	dec    *zstd.Decoder   // shared by every reader (DecodeAll is concurrency-safe)

	mu     sync.Mutex // guards cmap, siteOf, site, layout, plan and rs
	cmap   ClusterMap
	siteOf map[DiskID]SiteID // every disk of cmap
	site   SiteID            // the site of the local disks in cmap ("" when none is there)
	layout string            // "auto" or "k+m", for new files
	plan   *planned          // Plan's answer for cmap and layout; nil: not computed since they changed
	rs     map[Layout]reedsolomon.Encoder

	healNeeded atomic.Pointer[func(FileID)] // see SetHealNeeded; nil: none
}

// New returns a Store over the local disks and, through remote (nil: none), the other nodes'
// disks, placing new files by cmap, which names every disk of the cluster (see ClusterMap;
// SetClusterMap replaces it). keys wraps each file's data key.
func New(cfg Config, cmap ClusterMap, disks map[DiskID]Disk, remote DiskSource, keys KeyWrapper, logger *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if keys == nil || logger == nil {
		return nil, fmt.Errorf("%w: nil key wrapper or logger", ErrInvalidConfig)
	}
	local := make(map[DiskID]Disk, len(disks))
	for id, d := range disks {
		if d == nil || d.ID() != id {
			return nil, fmt.Errorf("%w: disk %q missing or mislabelled", ErrInvalidConfig, id)
		}
		local[id] = d
	}
	w := cfg.workers()
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(w),
		zstd.WithWindowSize(max(zstd.MinWindowSize, windowFor(cfg.BlockSize))),
		zstd.WithEncoderCRC(false),
		zstd.WithZeroFrames(true),
		zstd.WithSingleSegment(true),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(w),
		zstd.WithDecoderMaxMemory(uint64(MaxBlockSize)),
		zstd.WithDecoderMaxWindow(uint64(max(zstd.MinWindowSize, windowFor(MaxBlockSize)))),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	s := &Store{
		cfg:    cfg,
		logger: logger.With("component", "blobstore"),
		keys:   keys,
		disks:  local,
		remote: remote,
		enc:    enc,
		dec:    dec,
		layout: cfg.Layout,
		rs:     map[Layout]reedsolomon.Encoder{},
	}
	s.SetClusterMap(cmap)
	// Not fatal: the map may grow (SetClusterMap); Create fails until it can hold the layout.
	if p, err := s.Plan(); err != nil {
		s.logger.Warn("no usable layout yet", logkey.Err, err)
	} else {
		s.logger.Info("layout", "layout", p.Layout.String(), "failure_domain", p.Domain.String(), "writes_survive", p.WritesSurvive)
	}
	return s, nil
}

// windowFor returns the power of two at least n.
func windowFor(n int) int {
	w := 1
	for w < n {
		w <<= 1
	}
	return w
}

// Close releases the shared compressors. Writers and Readers must be closed first.
func (s *Store) Close() error {
	s.enc.Close()
	s.dec.Close()
	return nil
}

// planned is a cached answer of Plan.
type planned struct {
	p   LayoutPlan
	err error
}

// SetClusterMap replaces the cluster map used to place new files.
func (s *Store) SetClusterMap(cmap ClusterMap) {
	siteOf := map[DiskID]SiteID{}
	var site SiteID
	for _, st := range cmap.Sites {
		for _, n := range st.Nodes {
			for _, d := range n.Disks {
				siteOf[d.ID] = st.ID
				if _, local := s.disks[d.ID]; local {
					site = st.ID
				}
			}
		}
	}
	s.mu.Lock()
	s.cmap, s.siteOf, s.site, s.plan = cmap, siteOf, site, nil
	s.mu.Unlock()
}

// distance ranks a disk for reads: 0 local, 1 on another node of this site, 2 elsewhere.
func (s *Store) distance(id DiskID) int {
	if _, local := s.disks[id]; local {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if site, ok := s.siteOf[id]; ok && site == s.site {
		return 1
	}
	return 2
}

func (s *Store) clusterMap() ClusterMap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmap
}

// SetLayout sets the layout of the files created from now on: "auto" or "k+m" (files already
// written keep theirs). It refuses a malformed layout (ErrInvalidConfig); one that the current
// map cannot place or whose spread cannot survive the failure domain is taken, and Create
// fails with PlanLayout's sentence until the map can hold it: check with PlanLayout first.
func (s *Store) SetLayout(layout string) error {
	if layout != "auto" {
		if _, err := ParseLayout(layout); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.layout, s.plan = layout, nil
	s.mu.Unlock()
	return nil
}

// Plan resolves the layout against the current cluster map: what new files get and what it
// survives (see PlanLayout).
func (s *Store) Plan() (LayoutPlan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plan == nil {
		p, err := PlanLayout(s.cmap, s.layout, s.cfg.FailureDomain, s.cfg.MinFreeBytes)
		s.plan = &planned{p, err}
	}
	return s.plan.p, s.plan.err
}

// layoutFor resolves the configured layout against the current map.
func (s *Store) layoutFor() (Layout, error) {
	p, err := s.Plan()
	return p.Layout, err
}

// codec returns the shared Reed-Solomon encoder of a layout (safe for concurrent use).
func (s *Store) codec(l Layout) (reedsolomon.Encoder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.rs[l]; ok {
		return e, nil
	}
	if l.M == 0 {
		s.rs[l] = nil
		return nil, nil
	}
	// Frozen: default options = the Vandermonde-derived systematic matrix (CodecRSVandermonde).
	e, err := reedsolomon.New(l.K, l.M, reedsolomon.WithMaxGoroutines(1))
	if err != nil {
		return nil, fmt.Errorf("reed-solomon %s: %w", l, err)
	}
	s.rs[l] = e
	return e, nil
}

// disk returns the disk of id, local or from the DiskSource, or an error wrapping
// ErrDiskUnavailable.
func (s *Store) disk(id DiskID) (Disk, error) {
	if d, ok := s.disks[id]; ok {
		return d, nil
	}
	if s.remote == nil {
		return nil, fmt.Errorf("%w: %s is not a local disk", ErrDiskUnavailable, id)
	}
	d, err := s.remote.Disk(id)
	if err != nil {
		if errors.Is(err, ErrDiskUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrDiskUnavailable, id, err)
	}
	return d, nil
}

// fileDisks returns the disks that may hold files of a file whose shards are on shards: the
// local disks, and those of its shards reachable through the DiskSource.
func (s *Store) fileDisks(shards []DiskID) map[DiskID]Disk {
	out := make(map[DiskID]Disk, len(s.disks)+len(shards))
	for id, d := range s.disks {
		out[id] = d
	}
	for _, id := range shards {
		if _, ok := out[id]; ok {
			continue
		}
		if d, err := s.disk(id); err == nil {
			out[id] = d
		}
	}
	return out
}

// writeQuorum is the number of shards a write needs durable: more than half of them (so two
// quorums always share a shard) and at least k+1 when there is parity.
func writeQuorum(l Layout) int {
	if l.M == 0 {
		return l.K
	}
	return max(l.K+1, (l.K+l.M)/2+1)
}

// Block sealing.

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("data key of %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func newKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux ≥ 3.17
	}
	return k
}

// blockNonce is write generation ‖ block index.
func blockNonce(n *[12]byte, gen uint32, block uint64) []byte {
	binary.BigEndian.PutUint32(n[:4], gen)
	binary.BigEndian.PutUint64(n[4:], block)
	return n[:]
}

// blockAAD is file ID ‖ block index ‖ compressed flag, appended to buf.
func blockAAD(buf []byte, id FileID, block uint64, compressed bool) []byte {
	buf = append(buf[:0], id...)
	buf = binary.BigEndian.AppendUint64(buf, block)
	if compressed {
		return append(buf, 1)
	}
	return append(buf, 0)
}

// Put stores everything r yields as file id and returns its manifest. On any error nothing is
// left on the disks.
func (s *Store) Put(ctx context.Context, id FileID, r io.Reader) (Manifest, error) {
	w, err := s.Create(ctx, id)
	if err != nil {
		return Manifest{}, err
	}
	if _, err := w.ReadFrom(ctxReader{ctx, r}); err != nil {
		return Manifest{}, errors.Join(fmt.Errorf("put %s: %w", id, err), w.Abort(context.WithoutCancel(ctx)))
	}
	m, err := w.Commit(ctx)
	if err != nil && !errors.Is(err, ErrHealNeeded) {
		return Manifest{}, errors.Join(err, w.Abort(context.WithoutCancel(ctx)))
	}
	return m, err
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete removes a file's shards and staged tails from its disks that can be reached, local or
// remote, the leftovers of its Commit included (see ReleaseStaged). The caller destroys the
// wrapped key in its metadata first (crypto-shredding): shards on a disk unreachable now are
// then unreadable noise. A shard on a disk the cluster map knows but that cannot be reached
// (its node is away) gives an error wrapping ErrDiskUnavailable, after everything else was
// removed: call Delete again later (it is idempotent).
func (s *Store) Delete(ctx context.Context, m Manifest) error {
	if err := validID(m.FileID); err != nil {
		return err
	}
	var errs []error
	cmap := s.clusterMap()
	for i, id := range m.Shards {
		d, err := s.disk(id)
		if err != nil {
			if _, known := cmap.disk(id); known {
				// Its node is away: say so, so that the caller retries later. A disk the map
				// no longer knows (retired) took its shards with it.
				errs = append(errs, fmt.Errorf("delete %s shard %d: %w", m.FileID, i, err))
			}
			continue
		}
		for _, suf := range []string{".shard", ".part", ".heal"} {
			if err := d.Remove(ctx, shardName(m.FileID, i, suf)); err != nil {
				errs = append(errs, fmt.Errorf("delete %s shard %d on %s: %w", m.FileID, i, id, err))
			}
		}
	}
	errs = append(errs, s.removeStaged(ctx, m.FileID, m.Shards, nil))
	return errors.Join(errs...)
}

// ReleaseStaged removes from the file's disks (local and reachable remote) what the Commit of
// m's file left so that the
// caller's last ResumeState could still Resume (the staged tails of its last checkpoints, see
// Writer.Commit), and any in-progress shard file of it (".part" of a shard that failed during
// the write). Call it once m is durably recorded in the caller's metadata (after the Raft
// commit of the manifest, never before): from then on the file must not be resumed. Committed
// shards are never touched. It is idempotent and safe when nothing is left (a Put, an upload
// that ended on a stripe boundary, a second call). Delete and CleanStaged remove the same
// leftovers, so a crash before ReleaseStaged leaks nothing for good.
func (s *Store) ReleaseStaged(ctx context.Context, m Manifest) error {
	if err := validID(m.FileID); err != nil {
		return err
	}
	var errs []error
	for did, d := range s.fileDisks(m.Shards) {
		names, err := d.List(ctx, shardsDir+"/"+idPrefix(m.FileID))
		if err != nil {
			errs = append(errs, fmt.Errorf("list shards on %s: %w", did, err))
			continue
		}
		for _, n := range names {
			if id, suf, ok := parseName(n); ok && id == m.FileID && suf == ".part" {
				if err := d.Remove(ctx, n); err != nil {
					errs = append(errs, fmt.Errorf("remove %s on %s: %w", n, did, err))
				}
			}
		}
	}
	errs = append(errs, s.removeStaged(ctx, m.FileID, m.Shards, nil))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release staged %s: %w", m.FileID, err)
	}
	return nil
}

// removeStaged removes the staged tails of id, except the sequences kept, on every local disk
// and on the reachable disks of its shards (staged tails are written beside the shards).
func (s *Store) removeStaged(ctx context.Context, id FileID, shards []DiskID, keep map[uint64]bool) error {
	var errs []error
	for _, d := range s.fileDisks(shards) {
		names, err := d.List(ctx, stagedDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range names {
			fid, _, ok := parseName(n)
			if !ok || fid != id {
				continue
			}
			if seq, ok := stagedSeqOf(n); ok && keep[seq] {
				continue
			}
			if err := d.Remove(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// ListStaged lists the uploads that left files on the local disks without a Commit (shard
// files being written, staged tails), so the node can report them and resume or clean them,
// and the committed files whose Commit left staged tails not yet released (Committed is set:
// see StagedUpload).
func (s *Store) ListStaged(ctx context.Context) ([]StagedUpload, error) {
	byID := map[FileID]*StagedUpload{}
	var order []FileID
	hasShard, hasPart := map[FileID]bool{}, map[FileID]bool{}
	for did, d := range s.disks {
		for _, dir := range []string{shardsDir, stagedDir} {
			names, err := d.List(ctx, dir)
			if err != nil {
				return nil, fmt.Errorf("list staged on %s: %w", did, err)
			}
			for _, n := range names {
				id, suf, ok := parseName(n)
				if !ok {
					continue
				}
				switch suf {
				case ".shard":
					hasShard[id] = true
					continue
				case ".part":
					hasPart[id] = true
				}
				u := byID[id]
				if u == nil {
					u = &StagedUpload{FileID: id}
					byID[id] = u
					order = append(order, id)
				}
				if f, err := d.Open(ctx, n); err == nil {
					if sz, err := f.Size(); err == nil {
						u.Bytes += sz
					}
					f.Close()
				}
				if len(u.Disks) == 0 || u.Disks[len(u.Disks)-1] != did {
					u.Disks = append(u.Disks, did)
				}
			}
		}
	}
	out := make([]StagedUpload, 0, len(order))
	for _, id := range order {
		u := byID[id]
		u.Committed = hasShard[id] && !hasPart[id]
		out = append(out, *u)
	}
	return out, nil
}

// CleanStaged removes the files of every staged upload for which keep returns false (an upload
// whose resume state is gone or expired). keep may be nil: everything staged is removed.
// Committed shard files are never removed: for a committed file (StagedUpload.Committed) only
// the leftovers of its Commit go, as with ReleaseStaged.
func (s *Store) CleanStaged(ctx context.Context, keep func(FileID) bool) error {
	ups, err := s.ListStaged(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range ups {
		if keep != nil && keep(u.FileID) {
			continue
		}
		for _, d := range s.disks {
			names, err := d.List(ctx, shardsDir+"/"+idPrefix(u.FileID))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, n := range names {
				if id, suf, ok := parseName(n); ok && id == u.FileID && suf != ".shard" {
					errs = append(errs, d.Remove(ctx, n))
				}
			}
		}
		errs = append(errs, s.removeStaged(ctx, u.FileID, nil, nil))
		s.logger.Info("staged upload removed", keyFileID, u.FileID, "bytes", u.Bytes)
	}
	return errors.Join(errs...)
}
