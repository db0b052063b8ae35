package blobstore

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"
	"sync"
	"valise/internal/logkey"

	"github.com/klauspost/reedsolomon"
)

// Writer streams one file into shard files. It is used by one goroutine at a time. Bytes are
// durable only at Checkpoint and Commit; Abort removes everything, Close leaves it for Resume.
type Writer struct {
	s       *Store
	id      FileID
	layout  Layout
	g       geometry
	shards  []DiskID
	files   []File // by shard index; nil when the shard failed
	wrapped []byte
	aead    cipher.AEAD
	rs      reedsolomon.Encoder
	gen     uint32
	gens    []GenRange

	cur        *stripeBuf // the stripe being filled; nil before the first byte of a stripe
	nextStripe uint64     // index of the next stripe handed to the pipeline
	offset     int64
	done       bool // after Commit, Abort or Close
	committed  bool

	// Staged tail of the last Checkpoint: valid while no byte was written since.
	stagedSeq   uint64
	stagedLen   int
	stagedKey   []byte // wrapped one-time key
	stagedValid bool
	stagedSeqs  []uint64 // sequences staged by this writer or resumed from, oldest first

	free   chan *stripeBuf // buffers ready for filling
	hashCh chan *stripeBuf // filled stripes to hash, in order
	workCh chan *stripeBuf // hashed stripes to seal, encode and write
	wg     sync.WaitGroup  // the hasher and the workers
	hash   hash.Hash       // owned by the hasher goroutine while inflight > 0
	wbCh   chan wbRange    // ranges written, for the write-back goroutine
	wbDone chan struct{}   // closed when the write-back goroutine ended

	mu       sync.Mutex // guards inflight, err, shardErr
	idle     *sync.Cond // signalled when inflight drops to 0
	inflight int
	err      error   // first fatal error of the pipeline
	shardErr []error // per shard: why it failed (nil: healthy)
}

// stripeBuf holds one stripe through the pipeline.
type stripeBuf struct {
	plain  []byte   // k*blockSize plaintext
	n      int      // bytes of plain filled
	stripe uint64   // stripe index
	gen    uint32   // write generation
	pieces [][]byte // k+m buffers: piece header + payload
	comp   []byte   // compression scratch
	lens   []uint32 // k sealed data lengths (with compressedFlag)
	crcs   []uint32 // k data payload checksums
	shards [][]byte // k+m payload views for the encoder
	aad    []byte
}

// Create starts writing file id: it places its shards, creates a data key (wrapped by the
// KeyWrapper) and the shard files. The file is readable only after Commit.
func (s *Store) Create(ctx context.Context, id FileID) (*Writer, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	l, err := s.layoutFor()
	if err != nil {
		return nil, err
	}
	shards, down, err := place(s.clusterMap(), id, l, s.cfg.FailureDomain, s.cfg.MinFreeBytes)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", id, err)
	}
	key := newKey()
	wrapped, err := s.keys.Wrap(ctx, id, key)
	if err != nil {
		return nil, fmt.Errorf("create %s: wrap key: %w", id, err)
	}
	w, err := s.newWriter(id, l, s.cfg.BlockSize, shards, key, wrapped, 1)
	if err != nil {
		return nil, err
	}
	for i, did := range shards {
		if down[i] {
			// Placed there to keep the spread (its node is away): left for Heal.
			w.shardFailed(i, fmt.Errorf("%w: %s is down", ErrDiskUnavailable, did))
			continue
		}
		f, err := s.openShardForWrite(ctx, id, i, did, w.g, true)
		if err != nil {
			w.shardFailed(i, err)
			continue
		}
		hdr := fileHeader{k: l.K, m: l.M, shard: i, blockSize: w.g.blockSize, genHighWater: 1, clusterID: s.cfg.ClusterID, fileID: id}
		if _, err := f.WriteAt(hdr.marshal(), 0); err != nil {
			f.Close()
			w.shardFailed(i, fmt.Errorf("write header: %w", err))
			continue
		}
		w.files[i] = f
	}
	if err := w.quorum(); err != nil {
		return nil, errors.Join(err, w.Abort(ctx))
	}
	w.gens = []GenRange{{FirstStripe: 0, Gen: 1}}
	w.start()
	return w, nil
}

func (s *Store) openShardForWrite(ctx context.Context, id FileID, shard int, did DiskID, _ geometry, truncate bool) (File, error) {
	d, err := s.disk(did)
	if err != nil {
		return nil, err
	}
	f, err := d.Create(ctx, shardName(id, shard, ".part"), truncate)
	if err != nil {
		return nil, fmt.Errorf("create shard %d of %s on %s: %w", shard, id, did, err)
	}
	return f, nil
}

func (s *Store) newWriter(id FileID, l Layout, blockSize int, shards []DiskID, key, wrapped []byte, gen uint32) (*Writer, error) {
	aead, err := newAEAD(key)
	clear(key) // the cipher keeps its own schedule; no copy of the data key stays around
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", id, err)
	}
	rs, err := s.codec(l)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		s: s, id: id, layout: l, g: newGeometry(l, blockSize), shards: shards,
		files: make([]File, len(shards)), wrapped: wrapped, aead: aead, rs: rs, gen: gen,
		shardErr: make([]error, len(shards)), hash: sha256.New(),
	}
	w.idle = sync.NewCond(&w.mu)
	return w, nil
}

// wbRange is a range of a shard file written, to start writing back to the disk.
type wbRange struct {
	f      writeBacker
	off, n int64
}

// start launches the hasher, the workers with their buffers, and the write-back goroutine.
func (w *Writer) start() {
	workers := w.s.cfg.workers()
	depth := workers + 2
	w.free = make(chan *stripeBuf, depth)
	w.hashCh = make(chan *stripeBuf, depth)
	w.workCh = make(chan *stripeBuf, depth)
	w.wbCh = make(chan wbRange, 4*depth*(w.layout.K+w.layout.M))
	w.wbDone = make(chan struct{})
	go func() {
		defer close(w.wbDone)
		for r := range w.wbCh {
			r.f.StartWriteback(r.off, r.n)
		}
	}()
	for range depth {
		w.free <- w.newBuf()
	}
	w.wg.Add(1 + workers)
	go func() {
		defer w.wg.Done()
		defer close(w.workCh)
		for b := range w.hashCh {
			w.hash.Write(b.plain[:b.n])
			w.workCh <- b
		}
	}()
	for range workers {
		go func() {
			defer w.wg.Done()
			for b := range w.workCh {
				err := w.writeStripe(b)
				w.free <- b
				w.mu.Lock()
				if err != nil && w.err == nil {
					w.err = err
				}
				w.inflight--
				if w.inflight == 0 {
					w.idle.Broadcast()
				}
				w.mu.Unlock()
			}
		}()
	}
}

func (w *Writer) newBuf() *stripeBuf {
	b := &stripeBuf{
		plain:  make([]byte, w.g.stripeBytes()),
		pieces: make([][]byte, w.layout.K+w.layout.M),
		comp:   make([]byte, 0, w.g.blockSize+w.g.blockSize/64+1024),
		lens:   make([]uint32, w.layout.K),
		crcs:   make([]uint32, w.layout.K),
		shards: make([][]byte, w.layout.K+w.layout.M),
	}
	for i := range b.pieces {
		b.pieces[i] = make([]byte, w.g.hdrSize+w.g.maxPiece())
	}
	return b
}

// stop ends the pipeline and waits for its goroutines, the write-back one last (the
// workers feed it; the files stay open until it ended).
func (w *Writer) stop() {
	if w.hashCh == nil {
		return
	}
	close(w.hashCh)
	w.wg.Wait()
	close(w.wbCh)
	<-w.wbDone
	w.hashCh = nil
}

// Offset returns the number of bytes written so far.
func (w *Writer) Offset() int64 { return w.offset }

// Write appends p to the file. It returns an error when the pipeline failed (too many shards
// lost: see Checkpoint); the caller then Resumes from its last state or Aborts.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, ErrWriterDone
	}
	if err := w.pipelineErr(); err != nil {
		return 0, err
	}
	if len(p) > 0 {
		w.stagedValid = false
	}
	n := 0
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = <-w.free
			w.cur.n = 0
		}
		c := copy(w.cur.plain[w.cur.n:], p)
		w.cur.n += c
		p = p[c:]
		n += c
		w.offset += int64(c)
		if w.cur.n == len(w.cur.plain) {
			w.send()
		}
	}
	return n, nil
}

// ReadFrom writes everything r yields until io.EOF (io.ReaderFrom): it reads straight into the
// stripe buffers, saving Write's copy, so io.Copy(w, body) takes this path.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.done {
		return 0, ErrWriterDone
	}
	var total int64
	for {
		if err := w.pipelineErr(); err != nil {
			return total, err
		}
		if w.cur == nil {
			w.cur = <-w.free
			w.cur.n = 0
		}
		n, err := r.Read(w.cur.plain[w.cur.n:])
		if n > 0 {
			w.stagedValid = false
			w.cur.n += n
			w.offset += int64(n)
			total += int64(n)
			if w.cur.n == len(w.cur.plain) {
				w.send()
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// send hands the current stripe to the pipeline.
func (w *Writer) send() {
	b := w.cur
	w.cur = nil
	b.stripe = w.nextStripe
	b.gen = w.gen
	w.nextStripe++
	w.mu.Lock()
	w.inflight++
	w.mu.Unlock()
	w.hashCh <- b
}

func (w *Writer) pipelineErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// flush waits until every stripe handed to the pipeline is written.
func (w *Writer) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.inflight > 0 {
		w.idle.Wait()
	}
	return w.err
}

// shardFailed records that shard i can no longer be written.
func (w *Writer) shardFailed(i int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.shardErr[i] == nil {
		w.shardErr[i] = err
		w.s.logger.Warn("shard write failed", keyFileID, w.id, keyShard, i, keyDisk, w.shards[i], logkey.Err, err)
	}
}

func (w *Writer) shardOK(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.shardErr[i] == nil
}

// quorum returns an error when fewer than the write quorum of shards are healthy.
func (w *Writer) quorum() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.quorumLocked()
}

func (w *Writer) quorumLocked() error {
	var bad []int
	var causes []error
	for i, e := range w.shardErr {
		if e != nil {
			bad = append(bad, i)
			causes = append(causes, e)
		}
	}
	if len(w.shardErr)-len(bad) >= writeQuorum(w.layout) {
		return nil
	}
	return fmt.Errorf("write %s: shards %v failed, fewer than %d of %d left: %w", w.id, bad, writeQuorum(w.layout), len(w.shardErr), errors.Join(causes...))
}

// writeStripe compresses, seals, erasure-codes and writes one stripe (a worker).
func (w *Writer) writeStripe(b *stripeBuf) error {
	g := w.g
	k := g.k
	var nonce [12]byte
	maxLen := 0
	sample := true // until a block of this stripe compressed: then try the next ones whole
	for j := range k {
		lo := j * g.blockSize
		if lo >= b.n {
			b.lens[j] = 0
			b.crcs[j] = payloadCRC(nil)
			continue
		}
		src := b.plain[lo:min(lo+g.blockSize, b.n)]
		block := b.stripe*uint64(k) + uint64(j)
		data, compressed := w.compress(src, b, sample)
		sample = !compressed
		b.aad = blockAAD(b.aad, w.id, block, compressed)
		sealed := w.aead.Seal(b.pieces[j][g.hdrSize:g.hdrSize], blockNonce(&nonce, b.gen, block), data, b.aad)
		b.crcs[j] = payloadCRC(sealed) // while the block is hot in cache
		b.lens[j] = uint32(len(sealed))
		if compressed {
			b.lens[j] |= compressedFlag
		}
		maxLen = max(maxLen, len(sealed))
	}
	shards := b.shards
	for i := range shards {
		shards[i] = b.pieces[i][g.hdrSize : g.hdrSize+maxLen]
		if i < k {
			clear(shards[i][b.lens[i]&^compressedFlag:])
		}
	}
	if w.rs != nil {
		if err := w.rs.Encode(shards); err != nil {
			return fmt.Errorf("encode stripe %d of %s: %w", b.stripe, w.id, err)
		}
	}
	off := g.slotOffset(b.stripe)
	// Pieces for other nodes' disks are sent in parallel (each is a network round trip);
	// local ones are written from this worker.
	var remote sync.WaitGroup
	for i, f := range w.files {
		if f == nil || !w.shardOK(i) {
			continue
		}
		plen := maxLen
		var pcrc uint32
		if i < k {
			plen = int(b.lens[i] &^ compressedFlag)
			pcrc = b.crcs[i]
		} else {
			pcrc = payloadCRC(shards[i])
		}
		put := func() {
			putPieceHeader(b.pieces[i], g, b.stripe, b.gen, b.lens, plen, pcrc)
			if _, err := f.WriteAt(b.pieces[i][:g.hdrSize+plen], off); err != nil {
				w.shardFailed(i, fmt.Errorf("write stripe %d to %s: %w", b.stripe, w.shards[i], err))
			} else if wb, ok := f.(writeBacker); ok {
				select {
				case w.wbCh <- wbRange{f: wb, off: off, n: int64(g.hdrSize + plen)}:
				default: // the disk lags: Sync writes this range anyway
				}
			}
		}
		if _, local := w.s.disks[w.shards[i]]; local {
			put()
		} else {
			remote.Go(put)
		}
	}
	remote.Wait()
	return w.quorum()
}

// Compression: a block is stored compressed when zstd saves at least 8 % of it. Large blocks
// are sampled first: when their first compressSample bytes do not shrink by 4 %, the block is
// taken as incompressible (random, already compressed) and not tried further, which keeps
// incompressible puts near the SHA-256 ceiling. After a block of the stripe compressed, the next
// ones skip the sample (compressible data rarely turns random mid-stripe).
const (
	compressSample   = 32 << 10
	compressMinSaved = 8  // percent
	sampleMinSaved   = 4  // percent
	compressMinBlock = 64 // bytes
)

func (w *Writer) compress(src []byte, b *stripeBuf, sample bool) ([]byte, bool) {
	if !w.s.cfg.Compress || len(src) < compressMinBlock {
		return src, false
	}
	if sample && len(src) >= 4*compressSample {
		c := w.s.enc.EncodeAll(src[:compressSample], b.comp[:0])
		if len(c) > compressSample-compressSample*sampleMinSaved/100 {
			return src, false
		}
	}
	c := w.s.enc.EncodeAll(src, b.comp[:0])
	if cap(c) > cap(b.comp) {
		b.comp = c[:0]
	}
	if len(c) <= len(src)-len(src)*compressMinSaved/100 {
		return c, true
	}
	return src, false
}

// syncAll fsyncs every healthy shard file, in parallel.
func (w *Writer) syncAll() error {
	var wg sync.WaitGroup
	for i, f := range w.files {
		if f == nil || !w.shardOK(i) {
			continue
		}
		wg.Go(func() {
			if err := f.Sync(); err != nil {
				w.shardFailed(i, fmt.Errorf("fsync shard on %s: %w", w.shards[i], err))
			}
		})
	}
	wg.Wait()
	return w.quorum()
}

// Checkpoint makes everything written so far durable and returns the state to Resume from: the
// complete stripes are fsync'd, the tail of the partial stripe is staged on m+1 disks sealed
// under a one-time key (wrapped by the KeyWrapper). The caller persists the state before it
// acknowledges the bytes.
func (w *Writer) Checkpoint(ctx context.Context) (ResumeState, error) {
	if w.done {
		return ResumeState{}, ErrWriterDone
	}
	if err := w.flush(); err != nil {
		return ResumeState{}, err
	}
	if err := w.syncAll(); err != nil {
		return ResumeState{}, err
	}
	tail := 0
	if w.cur != nil {
		tail = w.cur.n
	}
	if tail > 0 && !w.stagedValid {
		if err := w.stage(ctx); err != nil {
			return ResumeState{}, err
		}
	}
	if tail == 0 {
		w.stagedSeq, w.stagedLen, w.stagedKey = 0, 0, nil
	}
	w.stagedValid = true
	hs, err := w.hash.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return ResumeState{}, fmt.Errorf("checkpoint %s: hash state: %w", w.id, err)
	}
	st := ResumeState{
		FileID: w.id, Offset: w.offset, Layout: w.layout, BlockSize: w.g.blockSize,
		Shards: slices.Clone(w.shards), WrappedKey: slices.Clone(w.wrapped),
		Generation: w.gen, Generations: slices.Clone(w.gens), Stripes: w.nextStripe,
		HashState: hs, StagedSeq: w.stagedSeq, StagedLen: w.stagedLen, StagedKey: slices.Clone(w.stagedKey),
	}
	w.mu.Lock()
	for i, e := range w.shardErr {
		if e != nil {
			st.LostShards = append(st.LostShards, i)
		}
	}
	w.mu.Unlock()
	// Keep the staged tails of this state and the previous one (the caller may not have
	// persisted this one yet); remove older ones.
	if n := len(w.stagedSeqs); n > 2 {
		for _, seq := range w.stagedSeqs[:n-2] {
			for _, did := range w.shards {
				if d, err := w.s.disk(did); err == nil {
					d.Remove(ctx, stagedName(w.id, seq))
				}
			}
		}
		w.stagedSeqs = slices.Delete(w.stagedSeqs, 0, n-2)
	}
	return st, nil
}

// Commit writes the last stripe, makes every shard durable, renames the shard files to their
// final names and returns the manifest, which the caller commits in its metadata. When some
// shards failed but the write quorum held, the manifest is valid and the error wraps
// ErrHealNeeded (a *HealNeededError). Any other error: nothing is committed; Resume or Abort.
//
// Commit leaves the staged tails of the last two checkpoints on the disks, so that a crash
// before the caller records the manifest loses nothing: Resume from the recorded state, writing
// the same remaining bytes and Commit again give the same file (re-sealed under a new
// generation). Once the manifest is durably recorded, the caller calls Store.ReleaseStaged.
func (w *Writer) Commit(ctx context.Context) (Manifest, error) {
	if w.done {
		return Manifest{}, ErrWriterDone
	}
	if w.cur != nil {
		if w.cur.n > 0 {
			w.send()
		} else {
			w.free <- w.cur
			w.cur = nil
		}
	}
	if err := w.flush(); err != nil {
		return Manifest{}, err
	}
	if err := w.syncAll(); err != nil {
		return Manifest{}, err
	}
	for i, f := range w.files {
		if f == nil || !w.shardOK(i) {
			continue
		}
		d, _ := w.s.disk(w.shards[i])
		if err := d.Rename(ctx, shardName(w.id, i, ".part"), shardName(w.id, i, ".shard")); err != nil {
			w.shardFailed(i, fmt.Errorf("rename shard on %s: %w", w.shards[i], err))
		}
	}
	if err := w.quorum(); err != nil {
		return Manifest{}, err
	}
	w.stop()
	w.closeFiles()
	w.done, w.committed = true, true
	for i, e := range w.shardErr {
		// A failed shard's partial file would pass for a staged upload: remove it (best effort;
		// Heal rebuilds the shard).
		if d, err := w.s.disk(w.shards[i]); e != nil && err == nil {
			d.Remove(ctx, shardName(w.id, i, ".part"))
		}
	}
	// Keep the staged tails of the last two checkpoints (those Checkpoint keeps): the caller
	// records the manifest only after Commit returns, and until then its recorded state must
	// still Resume. The caller drops them with ReleaseStaged. Older tails go now.
	keep := make(map[uint64]bool, len(w.stagedSeqs))
	for _, seq := range w.stagedSeqs {
		keep[seq] = true
	}
	if err := w.s.removeStaged(ctx, w.id, w.shards, keep); err != nil {
		w.s.logger.Warn("staged tails left behind", keyFileID, w.id, logkey.Err, err)
	}
	m := Manifest{
		FileID: w.id, Size: w.offset, Layout: w.layout, BlockSize: w.g.blockSize,
		Codec: CodecRSVandermonde, Generations: w.manifestGens(), Shards: slices.Clone(w.shards),
		WrappedKey: slices.Clone(w.wrapped),
	}
	w.hash.Sum(m.SHA256[:0])
	var hn HealNeededError
	for i, e := range w.shardErr {
		if e != nil {
			hn.Shards = append(hn.Shards, i)
			hn.Causes = append(hn.Causes, e)
		}
	}
	if len(hn.Shards) > 0 {
		hn.FileID = w.id
		w.s.noteHealNeeded(w.id)
		return m, &hn
	}
	return m, nil
}

// manifestGens drops generation ranges that start past the last stripe.
func (w *Writer) manifestGens() []GenRange {
	var out []GenRange
	for _, r := range w.gens {
		if r.FirstStripe < w.nextStripe {
			out = append(out, r)
		}
	}
	return out
}

func (w *Writer) closeFiles() {
	for i, f := range w.files {
		if f != nil {
			f.Close()
			w.files[i] = nil
		}
	}
}

// Close stops the writer and leaves its files for a later Resume (from the last persisted
// state). Close after Commit or Abort does nothing.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.stop()
	w.closeFiles()
	return nil
}

// Abort stops the writer and removes its shard files and staged tails from its disks.
func (w *Writer) Abort(ctx context.Context) error {
	if w.committed {
		return ErrWriterDone
	}
	w.done = true
	w.stop()
	w.closeFiles()
	var errs []error
	for i, did := range w.shards {
		d, err := w.s.disk(did)
		if err != nil {
			continue
		}
		for _, suf := range []string{".part", ".shard"} {
			if err := d.Remove(ctx, shardName(w.id, i, suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, w.s.removeStaged(ctx, w.id, w.shards, nil))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("abort %s: %w", w.id, err)
	}
	return nil
}
