package blobstore

import (
	"encoding/binary"
	"fmt"
)

// Encodings of Manifest and ResumeState: a 4-byte magic with the version in its last byte, then
// the fields in order, integers as uvarints, strings and byte slices length-prefixed. Version 1
// is frozen; a new field means a new version, and UnmarshalBinary keeps reading the old ones.
const (
	manifestMagic = "VMF\x01"
	resumeMagic   = "VRS\x01"
	maxKeyLen     = 1024
	maxHashState  = 1024
	maxGenRanges  = 1 << 16
)

type encoder struct{ b []byte }

func (e *encoder) uint(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)  { e.uint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) string(v string) { e.bytes([]byte(v)) }
func (e *encoder) gens(g []GenRange) {
	e.uint(uint64(len(g)))
	for _, r := range g {
		e.uint(r.FirstStripe)
		e.uint(uint64(r.Gen))
	}
}
func (e *encoder) disks(d []DiskID) {
	e.uint(uint64(len(d)))
	for _, id := range d {
		e.string(string(id))
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadFormat, what)
	}
}

func (d *decoder) uint(max uint64, what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > max {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(max int, what string) []byte {
	n := int(d.uint(uint64(max), what))
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(max int, what string) string { return string(d.bytes(max, what)) }

func (d *decoder) gens() []GenRange {
	n := int(d.uint(maxGenRanges, "generation count"))
	if d.err != nil || n > len(d.b) {
		d.fail("generation count")
		return nil
	}
	g := make([]GenRange, n)
	for i := range g {
		g[i].FirstStripe = d.uint(1<<62, "generation range")
		g[i].Gen = uint32(d.uint(1<<32-1, "generation"))
	}
	return g
}

func (d *decoder) disks() []DiskID {
	n := int(d.uint(MaxDataShards+MaxParityShards, "shard count"))
	if d.err != nil {
		return nil
	}
	ds := make([]DiskID, n)
	for i := range ds {
		ds[i] = DiskID(d.string(256, "disk ID"))
	}
	return ds
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// checkGens verifies that ranges start at stripe 0 and grow in stripe and generation.
func checkGens(g []GenRange) error {
	for i, r := range g {
		if r.Gen == 0 || (i == 0 && r.FirstStripe != 0) || (i > 0 && (r.FirstStripe < g[i-1].FirstStripe || r.Gen <= g[i-1].Gen)) {
			return fmt.Errorf("%w: generation ranges out of order", ErrBadFormat)
		}
	}
	return nil
}

// MarshalBinary encodes the manifest (version 1).
func (m Manifest) MarshalBinary() ([]byte, error) {
	e := encoder{b: append(make([]byte, 0, 128+len(m.WrappedKey)+16*len(m.Shards)), manifestMagic...)}
	e.string(string(m.FileID))
	e.uint(uint64(m.Size))
	e.b = append(e.b, m.SHA256[:]...)
	e.uint(uint64(m.Layout.K))
	e.uint(uint64(m.Layout.M))
	e.uint(uint64(m.BlockSize))
	e.string(m.Codec)
	e.gens(m.Generations)
	e.disks(m.Shards)
	e.bytes(m.WrappedKey)
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded, refusing anything malformed or
// inconsistent with an error wrapping ErrBadFormat.
func (m *Manifest) UnmarshalBinary(b []byte) error {
	if len(b) < 4 || string(b[:4]) != manifestMagic {
		return fmt.Errorf("%w: not a manifest (or an unknown version)", ErrBadFormat)
	}
	d := decoder{b: b[4:]}
	var out Manifest
	out.FileID = FileID(d.string(MaxFileIDLen, "file ID"))
	out.Size = int64(d.uint(1<<62, "size"))
	if d.err == nil {
		if len(d.b) < 32 {
			d.fail("digest")
		} else {
			copy(out.SHA256[:], d.b)
			d.b = d.b[32:]
		}
	}
	out.Layout.K = int(d.uint(MaxDataShards, "k"))
	out.Layout.M = int(d.uint(MaxParityShards, "m"))
	out.BlockSize = int(d.uint(MaxBlockSize, "block size"))
	out.Codec = d.string(64, "codec")
	out.Generations = d.gens()
	out.Shards = d.disks()
	out.WrappedKey = d.bytes(maxKeyLen, "wrapped key")
	if err := d.done(); err != nil {
		return err
	}
	if err := out.check(); err != nil {
		return err
	}
	*m = out
	return nil
}

// check verifies the manifest's internal consistency.
func (m *Manifest) check() error {
	if err := validID(m.FileID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	if err := m.Layout.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	if m.BlockSize < MinBlockSize || m.BlockSize > MaxBlockSize {
		return fmt.Errorf("%w: block size %d", ErrBadFormat, m.BlockSize)
	}
	if m.Codec != CodecRSVandermonde {
		return fmt.Errorf("%w: unknown codec %q", ErrBadFormat, m.Codec)
	}
	if len(m.Shards) != m.Layout.K+m.Layout.M {
		return fmt.Errorf("%w: %d shard locations for layout %s", ErrBadFormat, len(m.Shards), m.Layout)
	}
	if err := checkGens(m.Generations); err != nil {
		return err
	}
	stripes := newGeometry(m.Layout, m.BlockSize).stripes(m.Size)
	if stripes > 0 && len(m.Generations) == 0 {
		return fmt.Errorf("%w: no generations", ErrBadFormat)
	}
	return nil
}

// MarshalBinary encodes the state (version 1).
func (s ResumeState) MarshalBinary() ([]byte, error) {
	e := encoder{b: append(make([]byte, 0, 256+len(s.WrappedKey)+len(s.StagedKey)+len(s.HashState)), resumeMagic...)}
	e.string(string(s.FileID))
	e.uint(uint64(s.Offset))
	e.uint(uint64(s.Layout.K))
	e.uint(uint64(s.Layout.M))
	e.uint(uint64(s.BlockSize))
	e.disks(s.Shards)
	e.bytes(s.WrappedKey)
	e.uint(uint64(s.Generation))
	e.gens(s.Generations)
	e.uint(s.Stripes)
	e.bytes(s.HashState)
	e.uint(s.StagedSeq)
	e.uint(uint64(s.StagedLen))
	e.bytes(s.StagedKey)
	e.uint(uint64(len(s.LostShards)))
	for _, i := range s.LostShards {
		e.uint(uint64(i))
	}
	return e.b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded, refusing anything malformed or
// inconsistent with an error wrapping ErrBadFormat.
func (s *ResumeState) UnmarshalBinary(b []byte) error {
	if len(b) < 4 || string(b[:4]) != resumeMagic {
		return fmt.Errorf("%w: not a resume state (or an unknown version)", ErrBadFormat)
	}
	d := decoder{b: b[4:]}
	var out ResumeState
	out.FileID = FileID(d.string(MaxFileIDLen, "file ID"))
	out.Offset = int64(d.uint(1<<62, "offset"))
	out.Layout.K = int(d.uint(MaxDataShards, "k"))
	out.Layout.M = int(d.uint(MaxParityShards, "m"))
	out.BlockSize = int(d.uint(MaxBlockSize, "block size"))
	out.Shards = d.disks()
	out.WrappedKey = d.bytes(maxKeyLen, "wrapped key")
	out.Generation = uint32(d.uint(1<<32-1, "generation"))
	out.Generations = d.gens()
	out.Stripes = d.uint(1<<40, "stripes")
	out.HashState = d.bytes(maxHashState, "hash state")
	out.StagedSeq = d.uint(1<<62, "staged sequence")
	out.StagedLen = int(d.uint(MaxDataShards*MaxBlockSize, "staged length"))
	out.StagedKey = d.bytes(maxKeyLen, "staged key")
	if n := int(d.uint(MaxDataShards+MaxParityShards, "lost shard count")); n > 0 {
		out.LostShards = make([]int, n)
		for i := range out.LostShards {
			out.LostShards[i] = int(d.uint(MaxDataShards+MaxParityShards, "lost shard"))
		}
	}
	if err := d.done(); err != nil {
		return err
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

func (s *ResumeState) check() error {
	if err := validID(s.FileID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	if err := s.Layout.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFormat, err)
	}
	if s.BlockSize < MinBlockSize || s.BlockSize > MaxBlockSize {
		return fmt.Errorf("%w: block size %d", ErrBadFormat, s.BlockSize)
	}
	if len(s.Shards) != s.Layout.K+s.Layout.M {
		return fmt.Errorf("%w: %d shard locations for layout %s", ErrBadFormat, len(s.Shards), s.Layout)
	}
	if err := checkGens(s.Generations); err != nil {
		return err
	}
	if s.Generation == 0 || (len(s.Generations) > 0 && s.Generations[len(s.Generations)-1].Gen > s.Generation) {
		return fmt.Errorf("%w: generation %d", ErrBadFormat, s.Generation)
	}
	sb := int64(s.Layout.K) * int64(s.BlockSize)
	if s.StagedLen < 0 || int64(s.StagedLen) >= sb || s.Offset != int64(s.Stripes)*sb+int64(s.StagedLen) {
		return fmt.Errorf("%w: offset %d does not match %d stripes and %d staged bytes", ErrBadFormat, s.Offset, s.Stripes, s.StagedLen)
	}
	if (s.StagedLen > 0) != (s.StagedSeq > 0) || (s.StagedLen > 0) != (len(s.StagedKey) > 0) {
		return fmt.Errorf("%w: staged tail fields disagree", ErrBadFormat)
	}
	if s.Stripes > 0 && len(s.Generations) == 0 {
		return fmt.Errorf("%w: no generations", ErrBadFormat)
	}
	for i, l := range s.LostShards {
		if l >= len(s.Shards) || (i > 0 && l <= s.LostShards[i-1]) {
			return fmt.Errorf("%w: lost shards %v", ErrBadFormat, s.LostShards)
		}
	}
	return nil
}

// genOf returns the generation of a stripe from ranges (0 if none covers it).
func genOf(g []GenRange, stripe uint64) uint32 {
	var gen uint32
	for _, r := range g {
		if r.FirstStripe > stripe {
			break
		}
		gen = r.Gen
	}
	return gen
}
