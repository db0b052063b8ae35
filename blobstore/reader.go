package blobstore

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"valise/internal/logkey"

	"github.com/klauspost/reedsolomon"
)

// readSet is what the readers of one file share: its shard files, opened lazily, and the shards
// found missing or corrupt. Safe for concurrent use.
type readSet struct {
	s    *Store
	m    Manifest
	g    geometry
	aead cipher.AEAD
	rs   reedsolomon.Encoder
	// near lists the shard indexes nearest first (local disks, this site, other sites): a
	// degraded read takes the pieces it lacks from the nearest shards.
	near []int

	mu     sync.Mutex // guards files, opened, bad
	files  []File
	opened []bool
	bad    map[int]error // shard index → first cause
}

func (s *Store) newReadSet(ctx context.Context, m Manifest) (*readSet, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	key, err := s.keys.Unwrap(ctx, m.FileID, m.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("open %s: unwrap key: %w", m.FileID, err)
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", m.FileID, err)
	}
	rs, err := s.codec(m.Layout)
	if err != nil {
		return nil, err
	}
	n := len(m.Shards)
	r := &readSet{
		s: s, m: m, g: newGeometry(m.Layout, m.BlockSize), aead: aead, rs: rs,
		files: make([]File, n), opened: make([]bool, n), bad: map[int]error{},
	}
	dist := make([]int, n)
	for i := range n {
		dist[i] = s.distance(m.Shards[i])
		r.near = append(r.near, i)
	}
	slices.SortStableFunc(r.near, func(a, b int) int { return cmp.Compare(dist[a], dist[b]) })
	// Open every shard now, in parallel (most may be on other nodes): a missing or foreign
	// shard file (parity included) is then reported as heal needed even when the data shards
	// suffice.
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := s.openShard(ctx, m, r.g, i, ".shard")
			r.mu.Lock()
			defer r.mu.Unlock()
			r.opened[i] = true
			if err != nil {
				r.markBadLocked(i, err)
				return
			}
			r.files[i] = f
		})
	}
	wg.Wait()
	return r, nil
}

// file returns shard i's open file, or nil when it is missing or refused.
func (r *readSet) file(ctx context.Context, i int) File {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opened[i] {
		return r.files[i]
	}
	r.opened[i] = true
	f, err := r.s.openShard(ctx, r.m, r.g, i, ".shard")
	if err != nil {
		r.markBadLocked(i, err)
		return nil
	}
	r.files[i] = f
	return f
}

// openShard opens and verifies the header of shard i of m under the given suffix.
func (s *Store) openShard(ctx context.Context, m Manifest, g geometry, i int, suffix string) (File, error) {
	d, err := s.disk(m.Shards[i])
	if err != nil {
		return nil, err
	}
	f, err := d.Open(ctx, shardName(m.FileID, i, suffix))
	if err != nil {
		return nil, fmt.Errorf("open shard %d on %s: %w", i, m.Shards[i], err)
	}
	hdr := make([]byte, fileHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: shard %d on %s: read header: %w", ErrBadShard, i, m.Shards[i], err)
	}
	h, err := parseFileHeader(hdr)
	if err == nil {
		err = h.check(s.cfg.ClusterID, m.FileID, i, g)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("shard %d on %s: %w", i, m.Shards[i], err)
	}
	return f, nil
}

func (r *readSet) markBad(i int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.markBadLocked(i, err)
}

func (r *readSet) markBadLocked(i int, err error) {
	if _, ok := r.bad[i]; !ok {
		r.bad[i] = err
		r.s.noteHealNeeded(r.m.FileID)
		r.s.logger.Warn("shard skipped", keyFileID, r.m.FileID, keyShard, i, keyDisk, r.m.Shards[i], logkey.Err, err)
	}
}

// healErr returns a *HealNeededError when some shard was skipped, else nil.
func (r *readSet) healErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) == 0 {
		return nil
	}
	e := &HealNeededError{FileID: r.m.FileID}
	for i := range r.bad {
		e.Shards = append(e.Shards, i)
	}
	slices.Sort(e.Shards)
	for _, i := range e.Shards {
		e.Causes = append(e.Causes, r.bad[i])
	}
	return e
}

func (r *readSet) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.files {
		if f != nil {
			f.Close()
			r.files[i] = nil
		}
	}
}

// scratch is one goroutine's buffers for decoding stripes.
type scratch struct {
	slots  [][]byte // k+m: a whole slot each
	shards [][]byte
	lens   []uint32
	lens2  []uint32
	good   []bool
	need   []bool
	ok     []bool
	causes map[int]error
	tmp    []byte
	aad    []byte
}

func newScratch(g geometry) *scratch {
	n := g.k + g.m
	sc := &scratch{
		slots: make([][]byte, n), shards: make([][]byte, n), lens: make([]uint32, g.k), lens2: make([]uint32, g.k),
		good: make([]bool, n), need: make([]bool, g.k), ok: make([]bool, g.k), causes: map[int]error{}, tmp: make([]byte, 0, g.maxPiece()),
	}
	for i := range sc.slots {
		sc.slots[i] = make([]byte, g.hdrSize+g.maxPiece())
	}
	return sc
}

// readPiece reads and verifies shard i's piece of a stripe into sc.slots[i]; it returns the
// payload and fills lens with the stripe's data lengths.
// With checkPayload false the payload checksum is skipped: the caller authenticates what it
// derives from the payload with AES-GCM (see decodeStripe).
func (r *readSet) readPiece(ctx context.Context, i int, stripe uint64, gen uint32, lens []uint32, sc *scratch, checkPayload bool) ([]byte, error) {
	f := r.file(ctx, i)
	if f == nil {
		return nil, errShardMissing
	}
	buf := sc.slots[i][:r.g.hdrSize+r.g.maxPiece()]
	n, err := f.ReadAt(buf, r.g.slotOffset(stripe))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read shard %d stripe %d: %w", i, stripe, err)
	}
	_, payload, err := parsePiece(buf[:n], r.g, stripe, gen, lens, checkPayload)
	if err != nil {
		return nil, fmt.Errorf("shard %d stripe %d: %w", i, stripe, err)
	}
	var want int
	if i < r.g.k {
		want = int(lens[i] &^ compressedFlag)
	} else {
		want = 0
		for _, l := range lens {
			want = max(want, int(l&^compressedFlag))
		}
	}
	if len(payload) != want {
		return nil, fmt.Errorf("%w: shard %d stripe %d: piece of %d bytes, want %d", ErrBadShard, i, stripe, len(payload), want)
	}
	return payload, nil
}

var errShardMissing = errors.New("shard missing")

// blockLen returns the plaintext length of a block.
func (r *readSet) blockLen(block uint64) int {
	start := int64(block) * int64(r.g.blockSize)
	return int(min(int64(r.g.blockSize), r.m.Size-start))
}

// openBlock authenticates, decrypts and decompresses one block into dst (its exact length).
func (r *readSet) openBlock(stripe uint64, j int, gen uint32, payload []byte, lenFlag uint32, dst []byte, sc *scratch) error {
	block := stripe*uint64(r.g.k) + uint64(j)
	compressed := lenFlag&compressedFlag != 0
	sc.aad = blockAAD(sc.aad, r.m.FileID, block, compressed)
	var nonce [12]byte
	blockNonce(&nonce, gen, block)
	if !compressed {
		if len(payload) != len(dst)+sealOverhead {
			return fmt.Errorf("%w: block %d: sealed length %d for %d bytes", ErrBadShard, block, len(payload), len(dst))
		}
		if _, err := r.aead.Open(dst[:0], nonce[:], payload, sc.aad); err != nil {
			return fmt.Errorf("%w: block %d fails authentication", ErrBadShard, block)
		}
		return nil
	}
	plain, err := r.aead.Open(sc.tmp[:0], nonce[:], payload, sc.aad)
	if err != nil {
		return fmt.Errorf("%w: block %d fails authentication", ErrBadShard, block)
	}
	out, err := r.s.dec.DecodeAll(plain, dst[:0:len(dst)])
	if err != nil || len(out) != len(dst) {
		return fmt.Errorf("%w: block %d: decompress: %d bytes, want %d: %v", ErrBadShard, block, len(out), len(dst), err)
	}
	return nil
}

// decodeStripe writes blocks j0..j1 (inclusive) of a stripe into out, which starts at block
// j0's first byte and holds exactly those blocks. It reads the data pieces first and falls
// back to any k healthy pieces, reconstructing what is missing.
//
// The pieces fetched for a reconstruction are first used without checking their payload
// checksums: the rebuilt blocks are authenticated by AES-GCM anyway, so a corrupt piece cannot
// yield a wrong byte. Only when a rebuilt block fails is the stripe decoded again, strictly,
// checking every piece's checksum to find and skip the corrupt one. This keeps a degraded read
// near the speed of a healthy one.
func (r *readSet) decodeStripe(ctx context.Context, stripe uint64, j0, j1 int, out []byte, sc *scratch) error {
	err := r.decodeStripeMode(ctx, stripe, j0, j1, out, sc, false)
	if errors.Is(err, errRebuiltBad) {
		err = r.decodeStripeMode(ctx, stripe, j0, j1, out, sc, true)
	}
	return err
}

// errRebuiltBad is wrapped when a reconstructed block fails authentication.
var errRebuiltBad = errors.New("rebuilt block fails authentication")

func (r *readSet) decodeStripeMode(ctx context.Context, stripe uint64, j0, j1 int, out []byte, sc *scratch, strict bool) error {
	g := r.g
	gen := genOf(r.m.Generations, stripe)
	n := g.k + g.m
	for i := range n {
		sc.good[i] = false
		sc.shards[i] = nil
	}
	var lens []uint32
	ok := sc.ok // blocks already written to out
	clear(ok)
	failed := false
	pos := 0
	base := stripe * uint64(g.k)
	causes := sc.causes
	clear(causes)
	for j := j0; j <= j1; j++ {
		bl := r.blockLen(base + uint64(j))
		dst := out[pos : pos+bl]
		pos += bl
		l := sc.lens
		if lens != nil {
			l = sc.lens2
		}
		p, err := r.readPiece(ctx, j, stripe, gen, l, sc, false)
		if err == nil && lens != nil && !slices.Equal(l, lens) {
			err = fmt.Errorf("%w: shard %d stripe %d: data lengths disagree", ErrBadShard, j, stripe)
		}
		if err != nil {
			causes[j] = err
			failed = true
			continue
		}
		if lens == nil {
			lens = l
		}
		sc.good[j], sc.shards[j] = true, p
		if err := r.openBlock(stripe, j, gen, p, lens[j], dst, sc); err != nil {
			causes[j] = err
			sc.good[j], sc.shards[j] = false, nil
			failed = true
			continue
		}
		ok[j] = true
	}
	if !failed {
		return nil
	}
	// Degraded: gather k healthy pieces.
	count := 0
	for i := range n {
		if sc.good[i] {
			count++
		}
	}
	for _, i := range r.near {
		if count >= g.k {
			break
		}
		if sc.good[i] || causes[i] != nil {
			continue
		}
		l := sc.lens
		if lens != nil {
			l = sc.lens2
		}
		p, err := r.readPiece(ctx, i, stripe, gen, l, sc, strict)
		if err == nil && lens != nil && !slices.Equal(l, lens) {
			err = fmt.Errorf("%w: shard %d stripe %d: data lengths disagree", ErrBadShard, i, stripe)
		}
		if err != nil {
			causes[i] = err
			continue
		}
		if lens == nil {
			lens = l
		}
		sc.good[i], sc.shards[i] = true, p
		count++
	}
	for i, err := range causes {
		r.markBad(i, err)
	}
	if count < g.k || r.rs == nil {
		e := &TooManyLostError{FileID: r.m.FileID, Stripe: stripe, M: g.m}
		for i := range causes {
			e.Lost = append(e.Lost, i)
		}
		slices.Sort(e.Lost)
		for _, i := range e.Lost {
			e.Causes = append(e.Causes, causes[i])
		}
		return e
	}
	maxLen := 0
	for _, l := range lens {
		maxLen = max(maxLen, int(l&^compressedFlag))
	}
	for i := range n {
		if sc.good[i] {
			l := len(sc.shards[i])
			sc.shards[i] = sc.shards[i][:maxLen]
			clear(sc.shards[i][l:])
		} else {
			sc.shards[i] = sc.slots[i][g.hdrSize:g.hdrSize]
		}
	}
	for j := range g.k {
		sc.need[j] = j >= j0 && j <= j1 && !ok[j]
	}
	if err := r.rs.ReconstructSome(sc.shards, sc.need); err != nil {
		return fmt.Errorf("reconstruct %s stripe %d: %w", r.m.FileID, stripe, err)
	}
	pos = 0
	for j := j0; j <= j1; j++ {
		bl := r.blockLen(base + uint64(j))
		dst := out[pos : pos+bl]
		pos += bl
		if ok[j] {
			continue
		}
		p := sc.shards[j][:lens[j]&^compressedFlag]
		if err := r.openBlock(stripe, j, gen, p, lens[j], dst, sc); err != nil {
			if !strict {
				return fmt.Errorf("file %s stripe %d: %w: %w", r.m.FileID, stripe, errRebuiltBad, err)
			}
			return fmt.Errorf("file %s stripe %d: rebuilt block fails: %w", r.m.FileID, stripe, err)
		}
	}
	return nil
}

// Reader reads one file. Read and Seek keep a position and are for one goroutine; ReadAt may be
// called concurrently. Bytes returned are always correct: a block that cannot be rebuilt gives
// an error (wrapping ErrTooManyLost), never data. When shards had to be skipped, reads succeed
// and HealNeeded returns an error wrapping ErrHealNeeded, to queue the file for Heal.
type Reader struct {
	rs   *readSet
	size int64

	mu       sync.Mutex // guards sc, cacheIdx, cache, pos
	sc       *scratch
	cacheIdx int64
	cache    []byte
	pos      int64
}

var (
	_ io.ReadSeekCloser = (*Reader)(nil)
	_ io.ReaderAt       = (*Reader)(nil)
	_ io.WriterTo       = (*Reader)(nil)
)

// Open returns a Reader of the file of manifest m.
func (s *Store) Open(ctx context.Context, m Manifest) (*Reader, error) {
	rs, err := s.newReadSet(ctx, m)
	if err != nil {
		return nil, err
	}
	return &Reader{rs: rs, size: m.Size, cacheIdx: -1}, nil
}

// Size returns the file's size.
func (r *Reader) Size() int64 { return r.size }

// HealNeeded returns nil while every shard read was healthy, else a *HealNeededError (wrapping
// ErrHealNeeded) naming the shards skipped.
func (r *Reader) HealNeeded() error { return r.rs.healErr() }

// Close releases the shard files. It returns the same as HealNeeded, so that a caller checking
// Close learns about skipped shards.
func (r *Reader) Close() error {
	r.rs.close()
	return r.rs.healErr()
}

// ReadAt reads len(p) bytes at off (io.ReaderAt).
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", r.rs.m.FileID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readAtLocked(context.Background(), p, off)
}

func (r *Reader) readAtLocked(ctx context.Context, p []byte, off int64) (int, error) {
	if r.sc == nil {
		r.sc = newScratch(r.rs.g)
		r.cache = make([]byte, r.rs.g.blockSize)
	}
	bs := int64(r.rs.g.blockSize)
	k := uint64(r.rs.g.k)
	n := 0
	for len(p) > 0 {
		if off >= r.size {
			return n, io.EOF
		}
		block := off / bs
		in := off - block*bs
		bl := int64(r.rs.blockLen(uint64(block)))
		if in == 0 && int64(len(p)) >= bl && block != r.cacheIdx {
			if err := r.rs.decodeStripe(ctx, uint64(block)/k, int(uint64(block)%k), int(uint64(block)%k), p[:bl], r.sc); err != nil {
				return n, err
			}
			p, off, n = p[bl:], off+bl, n+int(bl)
			continue
		}
		if block != r.cacheIdx {
			r.cacheIdx = -1
			if err := r.rs.decodeStripe(ctx, uint64(block)/k, int(uint64(block)%k), int(uint64(block)%k), r.cache[:bl], r.sc); err != nil {
				return n, err
			}
			r.cacheIdx = block
		}
		c := copy(p, r.cache[in:bl])
		p, off, n = p[c:], off+int64(c), n+c
	}
	return n, nil
}

// Read reads from the current position (io.Reader).
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	n, err := r.readAtLocked(context.Background(), p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the position (io.Seeker).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("seek %s: bad whence %d", r.rs.m.FileID, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek %s: negative position", r.rs.m.FileID)
	}
	r.pos = abs
	return abs, nil
}

// WriteTo writes the rest of the file to w through the parallel read pipeline (io.WriterTo,
// so io.Copy is fast). A heal-needed outcome is reported by HealNeeded, not here.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos >= r.size {
		return 0, nil
	}
	cw := &countWriter{w: w}
	err := r.rs.s.get(context.Background(), r.rs, cw, r.pos, r.size-r.pos)
	r.pos += cw.n
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Get writes length bytes of the file of m from offset to w (length < 0: to the end). It
// decodes stripes on Config.Workers goroutines and writes them in order. When shards had to be
// skipped, every byte is written and the error wraps ErrHealNeeded (a *HealNeededError).
func (s *Store) Get(ctx context.Context, m Manifest, w io.Writer, offset, length int64) error {
	if offset < 0 || offset > m.Size {
		return fmt.Errorf("get %s: offset %d outside [0, %d]", m.FileID, offset, m.Size)
	}
	if length < 0 || length > m.Size-offset {
		length = m.Size - offset
	}
	rs, err := s.newReadSet(ctx, m)
	if err != nil {
		return err
	}
	defer rs.close()
	if err := s.get(ctx, rs, w, offset, length); err != nil {
		return err
	}
	return rs.healErr()
}

// readAhead is how many stripes ahead of the decoders a Get announces its reads to the
// kernel: with 1 MiB blocks and 4 data shards, 32 MiB in flight on a cold read.
const readAhead = 8

// getJob is one stripe of a Get.
type getJob struct {
	stripe uint64
	j0, j1 int
	lo, hi int // bytes of out to write
	out    []byte
	err    error
	done   chan struct{}
}

func (s *Store) get(ctx context.Context, rs *readSet, w io.Writer, offset, length int64) error {
	if length == 0 {
		return nil
	}
	g := rs.g
	bs := int64(g.blockSize)
	sb := g.stripeBytes()
	first := uint64(offset / sb)
	last := uint64((offset + length - 1) / sb)
	workers := s.cfg.workers()
	depth := workers + 1
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	free := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, sb)
	}
	jobs := make(chan *getJob, depth)
	order := make(chan *getJob, depth)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			sc := newScratch(g)
			for j := range jobs {
				if ctx.Err() != nil {
					j.err = ctx.Err()
				} else {
					j.err = rs.decodeStripe(ctx, j.stripe, j.j0, j.j1, j.out, sc)
				}
				close(j.done)
			}
		})
	}
	// Producer: one job per stripe, in order; stops when ctx ends. It announces the data
	// pieces readAhead stripes ahead of the one it hands out (see willNeeder).
	advise := func(st uint64) {
		if st > last {
			return
		}
		for j := range g.k {
			if wn, ok := rs.file(ctx, j).(willNeeder); ok {
				wn.WillNeed(g.slotOffset(st), int64(g.hdrSize+g.maxPiece()))
			}
		}
	}
	wg.Go(func() {
		defer close(jobs)
		defer close(order)
		for st := first; st < first+readAhead; st++ {
			advise(st)
		}
		for st := first; st <= last; st++ {
			advise(st + readAhead)
			sStart := int64(st) * sb
			lo := max(offset, sStart)
			hi := min(offset+length, sStart+sb, rs.m.Size)
			j0 := int((lo - sStart) / bs)
			j1 := int((hi - 1 - sStart) / bs)
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			blocksStart := sStart + int64(j0)*bs
			blocksEnd := min(sStart+int64(j1+1)*bs, rs.m.Size)
			j := &getJob{
				stripe: st, j0: j0, j1: j1, out: buf[:blocksEnd-blocksStart],
				lo: int(lo - blocksStart), hi: int(hi - blocksStart), done: make(chan struct{}),
			}
			jobs <- j
			order <- j
		}
	})
	var err error
	for j := range order {
		<-j.done
		if err == nil {
			err = j.err
			if err == nil {
				_, err = w.Write(j.out[j.lo:j.hi])
			}
			if err != nil {
				cancel()
			}
		}
		free <- j.out[:cap(j.out)]
	}
	wg.Wait()
	return err
}
