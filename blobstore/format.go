package blobstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The shard file format (see DESIGN.md). All integers are big-endian.
//
// File header, at offset 0, fileHeaderSize bytes (zero-padded):
//
//	magic "VALISESH" | version u16 | k u8 | m u8 | shard u8 | 0 u8 | blockSize u32 |
//	genHighWater u32 | len u8 + clusterID | len u8 + fileID | crc32c u32 (of all before)
//
// Then one slot per stripe, slot s at dataStart + s*slotSize, holding one piece:
//
//	magic "VPC1" | stripe u64 | gen u32 | length u32 | k x dataLen u32 | payload crc32c u32 |
//	header crc32c u32 | payload
//
// The payload crc covers the payload, the header crc the header before it (payload crc
// included), so the payload's checksum is computed while the sealed block is hot in cache. dataLen gives the sealed length of each
// of the stripe's k data blocks, high bit set when the block was compressed; a data piece's
// payload is its sealed block (length = its dataLen), a parity piece's payload is the stripe's
// longest sealed block's length (RS pads the shorter ones with zeros).
const (
	fileMagic      = "VALISESH"
	formatVersion  = 1
	fileHeaderSize = 512
	pieceMagic     = "VPC1"
	sealOverhead   = 16 // AES-GCM tag
	compressedFlag = 1 << 31
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// geometry is the byte layout of a file's shard files.
type geometry struct {
	k, m      int
	blockSize int
	hdrSize   int   // piece header size
	slotSize  int64 // bytes per stripe in each shard file
	dataStart int64 // offset of slot 0
}

func newGeometry(l Layout, blockSize int) geometry {
	align := 8
	if blockSize >= 4096 {
		align = 4096
	}
	hdr := 28 + 4*l.K
	slot := roundUp(hdr+blockSize+sealOverhead, align)
	return geometry{
		k: l.K, m: l.M, blockSize: blockSize, hdrSize: hdr,
		slotSize: int64(slot), dataStart: int64(roundUp(fileHeaderSize, align)),
	}
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

func (g geometry) slotOffset(stripe uint64) int64 { return g.dataStart + int64(stripe)*g.slotSize }

func (g geometry) stripeBytes() int64 { return int64(g.k) * int64(g.blockSize) }

// stripes returns the number of stripes of a file of size bytes.
func (g geometry) stripes(size int64) uint64 {
	sb := g.stripeBytes()
	return uint64((size + sb - 1) / sb)
}

// maxPiece is the longest payload of a piece.
func (g geometry) maxPiece() int { return g.blockSize + sealOverhead }

// fileHeader is the decoded header of a shard file.
type fileHeader struct {
	k, m, shard  int
	blockSize    int
	genHighWater uint32
	clusterID    string
	fileID       FileID
}

func (h *fileHeader) marshal() []byte {
	b := make([]byte, fileHeaderSize)
	copy(b, fileMagic)
	binary.BigEndian.PutUint16(b[8:], formatVersion)
	b[10], b[11], b[12] = byte(h.k), byte(h.m), byte(h.shard)
	binary.BigEndian.PutUint32(b[14:], uint32(h.blockSize))
	binary.BigEndian.PutUint32(b[18:], h.genHighWater)
	p := 22
	b[p] = byte(len(h.clusterID))
	p += 1 + copy(b[p+1:], h.clusterID)
	b[p] = byte(len(h.fileID))
	p += 1 + copy(b[p+1:], h.fileID)
	binary.BigEndian.PutUint32(b[p:], crc32.Checksum(b[:p], castagnoli))
	return b
}

// parseFileHeader decodes b (at least fileHeaderSize bytes).
func parseFileHeader(b []byte) (fileHeader, error) {
	var h fileHeader
	if len(b) < fileHeaderSize {
		return h, fmt.Errorf("%w: short file header (%d bytes)", ErrBadShard, len(b))
	}
	if string(b[:8]) != fileMagic {
		return h, fmt.Errorf("%w: not a shard file", ErrBadShard)
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != formatVersion {
		return h, fmt.Errorf("%w: format version %d", ErrBadShard, v)
	}
	h.k, h.m, h.shard = int(b[10]), int(b[11]), int(b[12])
	h.blockSize = int(binary.BigEndian.Uint32(b[14:]))
	h.genHighWater = binary.BigEndian.Uint32(b[18:])
	p := 22
	n := int(b[p])
	if n > 64 {
		return h, fmt.Errorf("%w: cluster ID too long", ErrBadShard)
	}
	h.clusterID = string(b[p+1 : p+1+n])
	p += 1 + n
	n = int(b[p])
	if n > MaxFileIDLen {
		return h, fmt.Errorf("%w: file ID too long", ErrBadShard)
	}
	h.fileID = FileID(b[p+1 : p+1+n])
	p += 1 + n
	if crc32.Checksum(b[:p], castagnoli) != binary.BigEndian.Uint32(b[p:]) {
		return h, fmt.Errorf("%w: file header checksum", ErrBadShard)
	}
	return h, nil
}

// check refuses a header that does not belong to the expected file, cluster and shard.
func (h *fileHeader) check(clusterID string, id FileID, shard int, g geometry) error {
	switch {
	case h.clusterID != clusterID:
		return fmt.Errorf("%w: shard of cluster %q, not %q", ErrBadShard, h.clusterID, clusterID)
	case h.fileID != id:
		return fmt.Errorf("%w: shard of file %q, not %q", ErrBadShard, h.fileID, id)
	case h.shard != shard:
		return fmt.Errorf("%w: shard index %d, not %d", ErrBadShard, h.shard, shard)
	case h.k != g.k || h.m != g.m || h.blockSize != g.blockSize:
		return fmt.Errorf("%w: layout %d+%d/%d, not %d+%d/%d", ErrBadShard, h.k, h.m, h.blockSize, g.k, g.m, g.blockSize)
	}
	return nil
}

// pieceHeader is the decoded header of one piece.
type pieceHeader struct {
	stripe   uint64
	gen      uint32
	length   int
	dataLens []uint32 // k entries, high bit = compressed
}

// payloadCRC is the checksum of a piece's payload.
func payloadCRC(payload []byte) uint32 { return crc32.Checksum(payload, castagnoli) }

// putPieceHeader writes the header into b[:g.hdrSize]; pcrc is payloadCRC(payload).
func putPieceHeader(b []byte, g geometry, stripe uint64, gen uint32, dataLens []uint32, length int, pcrc uint32) {
	copy(b, pieceMagic)
	binary.BigEndian.PutUint64(b[4:], stripe)
	binary.BigEndian.PutUint32(b[12:], gen)
	binary.BigEndian.PutUint32(b[16:], uint32(length))
	for i, l := range dataLens {
		binary.BigEndian.PutUint32(b[20+4*i:], l)
	}
	binary.BigEndian.PutUint32(b[g.hdrSize-8:], pcrc)
	binary.BigEndian.PutUint32(b[g.hdrSize-4:], crc32.Checksum(b[:g.hdrSize-4], castagnoli))
}

// parsePiece decodes and verifies the piece at the start of b (a slot, possibly short), and
// returns its header and payload (aliasing b). It checks the stripe and generation expected.
// With checkPayload false the payload's checksum is not verified: the caller authenticates
// it otherwise (a data piece is a sealed block: AES-GCM's tag checks every byte of it).
func parsePiece(b []byte, g geometry, stripe uint64, gen uint32, dataLens []uint32, checkPayload bool) (pieceHeader, []byte, error) {
	var h pieceHeader
	if len(b) < g.hdrSize {
		return h, nil, fmt.Errorf("%w: piece missing (%d bytes)", ErrBadShard, len(b))
	}
	if string(b[:4]) != pieceMagic {
		return h, nil, fmt.Errorf("%w: not a piece", ErrBadShard)
	}
	if crc32.Checksum(b[:g.hdrSize-4], castagnoli) != binary.BigEndian.Uint32(b[g.hdrSize-4:]) {
		return h, nil, fmt.Errorf("%w: piece header checksum", ErrBadShard)
	}
	h.stripe = binary.BigEndian.Uint64(b[4:])
	h.gen = binary.BigEndian.Uint32(b[12:])
	h.length = int(binary.BigEndian.Uint32(b[16:]))
	if h.length > g.maxPiece() || g.hdrSize+h.length > len(b) {
		return h, nil, fmt.Errorf("%w: piece length %d", ErrBadShard, h.length)
	}
	payload := b[g.hdrSize : g.hdrSize+h.length]
	if checkPayload && payloadCRC(payload) != binary.BigEndian.Uint32(b[g.hdrSize-8:]) {
		return h, nil, fmt.Errorf("%w: piece checksum", ErrBadShard)
	}
	if h.stripe != stripe || h.gen != gen {
		return h, nil, fmt.Errorf("%w: piece of stripe %d generation %d, want stripe %d generation %d", ErrBadShard, h.stripe, h.gen, stripe, gen)
	}
	h.dataLens = dataLens[:g.k]
	for i := range g.k {
		l := binary.BigEndian.Uint32(b[20+4*i:])
		if int(l&^compressedFlag) > g.maxPiece() {
			return h, nil, fmt.Errorf("%w: data length %d", ErrBadShard, l)
		}
		h.dataLens[i] = l
	}
	return h, payload, nil
}

// Names on a disk.
const (
	shardsDir = "shards"
	stagedDir = "staged"
)

func idPrefix(id FileID) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:1])
}

// shardName names a shard file; suffix is ".part" while written, ".shard" once committed,
// ".heal" while rebuilt.
func shardName(id FileID, shard int, suffix string) string {
	return shardsDir + "/" + idPrefix(id) + "/" + string(id) + "." + strconv.Itoa(shard) + suffix
}

func stagedName(id FileID, seq uint64) string {
	return stagedDir + "/" + string(id) + "." + strconv.FormatUint(seq, 10) + ".stage"
}

// parseName returns the file ID of a shard or staged file name, and its suffix.
func parseName(name string) (FileID, string, bool) {
	i := strings.LastIndexByte(name, '/')
	base := name[i+1:]
	if b, ok := strings.CutSuffix(base, ".tmp"); ok {
		// A staged tail being written: "<id>.<seq>.stage.tmp".
		id, _, ok := parseName(b)
		return id, ".tmp", ok
	}
	j := strings.LastIndexByte(base, '.')
	if j < 0 {
		return "", "", false
	}
	suffix := base[j:]
	rest := base[:j]
	k := strings.LastIndexByte(rest, '.')
	if k < 0 {
		return "", "", false
	}
	id := FileID(rest[:k])
	if validID(id) != nil {
		return "", "", false
	}
	return id, suffix, true
}

func validID(id FileID) error {
	if len(id) == 0 || len(id) > MaxFileIDLen || id[0] == '.' {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q", ErrInvalidID, id)
		}
	}
	return nil
}

// stagedSeqOf returns the sequence number in a staged tail's name.
func stagedSeqOf(name string) (uint64, bool) {
	base := name[strings.LastIndexByte(name, '/')+1:]
	base = strings.TrimSuffix(base, ".stage")
	i := strings.LastIndexByte(base, '.')
	if i < 0 {
		return 0, false
	}
	seq, err := strconv.ParseUint(base[i+1:], 10, 64)
	return seq, err == nil
}
