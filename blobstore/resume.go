package blobstore

import (
	"context"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
)

// A staged tail file: "VSTG" | version u8 | seq u64 | stripes u64 | len u32 | sealed tail.
// The tail is sealed with AES-256-GCM under a fresh one-time key (so a zero nonce is safe),
// with the file ID, seq and stripe count as additional data.
const (
	stagedMagic  = "VSTG\x01"
	stagedHeader = 5 + 8 + 8 + 4
)

func stagedAAD(id FileID, seq, stripes uint64) []byte {
	b := append([]byte("valise-staged\x00"), id...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, stripes)
}

// stage writes the current partial stripe as a staged tail on up to m+1 healthy local disks.
func (w *Writer) stage(ctx context.Context) error {
	n := w.cur.n
	seq := uint64(w.gen)<<32 | (w.stagedSeq&math.MaxUint32 + 1)
	if w.stagedSeq>>32 != uint64(w.gen) {
		seq = uint64(w.gen)<<32 | 1
	}
	key := newKey()
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	buf := make([]byte, stagedHeader, stagedHeader+n+sealOverhead)
	copy(buf, stagedMagic)
	binary.BigEndian.PutUint64(buf[5:], seq)
	binary.BigEndian.PutUint64(buf[13:], w.nextStripe)
	binary.BigEndian.PutUint32(buf[21:], uint32(n))
	var nonce [12]byte
	buf = aead.Seal(buf, nonce[:], w.cur.plain[:n], stagedAAD(w.id, seq, w.nextStripe))
	wrapped, err := w.s.keys.Wrap(ctx, w.id, key)
	clear(key)
	if err != nil {
		return fmt.Errorf("stage %s: wrap key: %w", w.id, err)
	}
	want := w.layout.M + 1
	written := 0
	var errs []error
	name := stagedName(w.id, seq)
	for i, did := range w.shards {
		if written == want {
			break
		}
		d, err := w.s.disk(did)
		if err != nil || !w.shardOK(i) {
			continue
		}
		if err := writeFileAtomic(ctx, d, name, buf); err != nil {
			errs = append(errs, fmt.Errorf("stage on %s: %w", did, err))
			continue
		}
		written++
	}
	if written == 0 || len(errs) > 0 && written < want {
		return fmt.Errorf("stage %s: %d of %d copies written: %w", w.id, written, want, errors.Join(errs...))
	}
	w.stagedSeq, w.stagedLen, w.stagedKey = seq, n, wrapped
	w.stagedSeqs = append(w.stagedSeqs, seq)
	return nil
}

// writeFileAtomic writes data to name through a temporary file, fsync and rename.
func writeFileAtomic(ctx context.Context, d Disk, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := d.Create(ctx, tmp, true)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(ctx, tmp, name)
	}
	if err != nil {
		d.Remove(ctx, tmp)
	}
	return err
}

// Resume continues a write from a state returned by Checkpoint, in this or another process.
// Writing continues at st.Offset: whatever was written after that state is discarded (a
// rollback). Resume always moves to a new write generation, higher than any recorded in the
// shard files' headers (which it updates and fsyncs before returning), so no (key, nonce) pair
// ever seals two different plaintexts, whatever the caller resumes from. Only one Writer may
// write a file at a time: close the old one first.
//
// Resume also works after the file's Commit, from the last two checkpoints' states (Commit
// leaves their staged tails): a crash between Commit and the caller's record of the manifest
// loses nothing. It reopens the committed shards and rewrites them from st's stripes on, so a
// file whose manifest the caller has recorded must never be resumed (the recorded manifest
// would no longer read it): release its leftovers with ReleaseStaged instead. A state whose
// staged tail is gone fails with ErrBadResumeState before any shard file is touched.
//
// With AtLeastGeneration(g), the new generation is also at least g: the caller claimed g through
// its metadata (an upload's lease, in Raft) before resuming, so that two nodes never pick the
// same generation even when each reads stale headers from a subset of the shards; the headers'
// high-water mark stays a second guard. Writer.Generation tells the generation picked: one above
// the claim must be claimed too before anything is written.
func (s *Store) Resume(ctx context.Context, st ResumeState, opts ...ResumeOption) (*Writer, error) {
	var o resumeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResumeState, err)
	}
	key, err := s.keys.Unwrap(ctx, st.FileID, st.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: unwrap key: %w", ErrBadResumeState, st.FileID, err)
	}
	w, err := s.newWriter(st.FileID, st.Layout, st.BlockSize, append([]DiskID(nil), st.Shards...), key, append([]byte(nil), st.WrappedKey...), 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResumeState, err)
	}
	// Everything the state needs besides the shard files is checked before any shard file is
	// touched: a state whose staged tail is gone (released after its Commit, say) fails here,
	// without renaming or truncating committed shards.
	var tail []byte
	if st.StagedLen > 0 {
		tail, err = s.loadStaged(ctx, st)
		if err != nil {
			return nil, err
		}
	}
	if err := w.hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.HashState); err != nil {
		return nil, fmt.Errorf("%w: %s: hash state: %w", ErrBadResumeState, st.FileID, err)
	}
	hw := st.Generation
	hdrBuf := make([]byte, fileHeaderSize)
	lost := map[int]bool{}
	for _, i := range st.LostShards {
		lost[i] = true
		w.shardFailed(i, fmt.Errorf("shard %d on %s lost before the resume", i, w.shards[i]))
	}
	for i, did := range w.shards {
		if lost[i] {
			continue
		}
		f, err := s.reopenPart(ctx, st.FileID, i, did)
		if err != nil {
			w.shardFailed(i, err)
			continue
		}
		if _, err := f.ReadAt(hdrBuf, 0); err == nil {
			h, herr := parseFileHeader(hdrBuf)
			if herr == nil {
				herr = h.check(s.cfg.ClusterID, st.FileID, i, w.g)
			}
			if herr == nil {
				hw = max(hw, h.genHighWater)
			} else if st.Stripes > 0 {
				f.Close()
				w.shardFailed(i, fmt.Errorf("shard %d on %s: %w", i, did, herr))
				continue
			}
		} else if st.Stripes > 0 {
			f.Close()
			w.shardFailed(i, fmt.Errorf("shard %d on %s: read header: %w", i, did, err))
			continue
		}
		w.files[i] = f
	}
	if hw == math.MaxUint32 {
		w.closeFiles()
		return nil, fmt.Errorf("%w: %s: write generations exhausted", ErrBadResumeState, st.FileID)
	}
	w.gen = max(hw+1, o.minGen)
	for i, f := range w.files {
		if f == nil {
			continue
		}
		hdr := fileHeader{k: st.Layout.K, m: st.Layout.M, shard: i, blockSize: st.BlockSize, genHighWater: w.gen, clusterID: s.cfg.ClusterID, fileID: st.FileID}
		_, err := f.WriteAt(hdr.marshal(), 0)
		if err == nil {
			err = f.Truncate(w.g.slotOffset(st.Stripes))
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			w.shardFailed(i, fmt.Errorf("shard %d on %s: %w", i, w.shards[i], err))
		}
	}
	if err := w.quorum(); err != nil {
		w.closeFiles()
		return nil, fmt.Errorf("%w: %w", ErrBadResumeState, err)
	}
	for _, r := range st.Generations {
		if r.FirstStripe < st.Stripes {
			w.gens = append(w.gens, r)
		}
	}
	w.gens = append(w.gens, GenRange{FirstStripe: st.Stripes, Gen: w.gen})
	w.nextStripe = st.Stripes
	w.offset = st.Offset
	w.stagedSeq, w.stagedLen, w.stagedKey = st.StagedSeq, st.StagedLen, append([]byte(nil), st.StagedKey...)
	if st.StagedSeq > 0 {
		w.stagedSeqs = []uint64{st.StagedSeq}
	}
	w.stagedValid = true
	w.start()
	if len(tail) > 0 {
		w.cur = <-w.free
		w.cur.n = copy(w.cur.plain, tail)
	}
	s.logger.Info("write resumed", keyFileID, st.FileID, "offset", st.Offset, "generation", w.gen)
	return w, nil
}

// ResumeOption tunes a Resume.
type ResumeOption func(*resumeOptions)

type resumeOptions struct {
	minGen uint32 // 0: none
}

// AtLeastGeneration makes Resume move to write generation gen or above (see Resume).
func AtLeastGeneration(gen uint32) ResumeOption {
	return func(o *resumeOptions) { o.minGen = max(o.minGen, gen) }
}

// Generation returns the write generation the Writer seals under: 1 after Create, the one
// Resume moved to after Resume.
func (w *Writer) Generation() uint32 { return w.gen }

// reopenPart opens shard i for writing without truncating it, renaming a committed shard back
// to its in-progress name (a Commit cut short).
func (s *Store) reopenPart(ctx context.Context, id FileID, i int, did DiskID) (File, error) {
	d, err := s.disk(did)
	if err != nil {
		return nil, err
	}
	part := shardName(id, i, ".part")
	f, err := d.Open(ctx, part)
	if err == nil {
		f.Close()
	} else if errors.Is(err, fs.ErrNotExist) {
		if rerr := d.Rename(ctx, shardName(id, i, ".shard"), part); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("shard %d on %s: %w", i, did, rerr)
		}
	}
	f, err = d.Create(ctx, part, false)
	if err != nil {
		return nil, fmt.Errorf("shard %d on %s: %w", i, did, err)
	}
	return f, nil
}

// loadStaged reads and opens the staged tail of st from any copy.
func (s *Store) loadStaged(ctx context.Context, st ResumeState) ([]byte, error) {
	key, err := s.keys.Unwrap(ctx, st.FileID, st.StagedKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: unwrap staged key: %w", ErrBadResumeState, st.FileID, err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResumeState, err)
	}
	name := stagedName(st.FileID, st.StagedSeq)
	var errs []error
	tried := map[DiskID]bool{}
	for _, did := range st.Shards {
		if tried[did] {
			continue
		}
		tried[did] = true
		d, err := s.disk(did)
		if err != nil {
			continue
		}
		tail, err := readStaged(ctx, d, name, aead, st)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", did, err))
			continue
		}
		return tail, nil
	}
	return nil, fmt.Errorf("%w: %s: no valid staged tail %d: %w", ErrBadResumeState, st.FileID, st.StagedSeq, errors.Join(errs...))
}

func readStaged(ctx context.Context, d Disk, name string, aead interface {
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, st ResumeState) ([]byte, error) {
	f, err := d.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := stagedHeader + st.StagedLen + sealOverhead
	buf := make([]byte, want)
	if n, err := f.ReadAt(buf, 0); n != want {
		return nil, fmt.Errorf("short staged tail (%d bytes): %w", n, err)
	}
	if string(buf[:5]) != stagedMagic || binary.BigEndian.Uint64(buf[5:]) != st.StagedSeq ||
		binary.BigEndian.Uint64(buf[13:]) != st.Stripes || int(binary.BigEndian.Uint32(buf[21:])) != st.StagedLen {
		return nil, fmt.Errorf("%w: staged tail header mismatch", ErrBadShard)
	}
	var nonce [12]byte
	tail, err := aead.Open(buf[stagedHeader:stagedHeader], nonce[:], buf[stagedHeader:], stagedAAD(st.FileID, st.StagedSeq, st.Stripes))
	if err != nil {
		return nil, fmt.Errorf("%w: staged tail fails authentication", ErrBadShard)
	}
	return tail, nil
}
