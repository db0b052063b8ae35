// Package shardnet carries a node's disks over the cluster port: a Server serves this node's
// own blobstore.Disks on the clusternet.ProtoShard listener, and a Client's RemoteDisk is a
// blobstore.Disk whose files live on another node (issue 18, "Shards travel between nodes").
// The same blobtest.DiskContract runs against the local and the remote disk.
//
// Identity. The cluster port is mutual TLS with the cluster CA; the client dials with the node
// ID it wants, so a disk is read from and written to the node that holds it and no other. The
// server answers any cluster node, and only for the disks it was given: a request naming
// another disk is refused with ErrUnknownDisk.
//
// Wire (protocol version 1). After clusternet's protocol byte and acknowledgement, the client
// sends a hello request carrying the version and the server answers OK. Then the connection
// carries one call at a time, request then reply, so TCP's own flow control is the
// back-pressure and neither side buffers more than one frame. Every message is a frame:
//
//	type (1 byte) | payload length (4 bytes, big-endian, at most MaxPayload) | payload
//
// A request's type is its op; a reply's type is statusOK (the op's result) or statusError
// (kind byte, errno 4 bytes, error text with a 2-byte length, at most maxErrText bytes).
// Strings are a 2-byte length and bytes (names at most maxName bytes), integers big-endian.
//
//	hello     version:1                          → OK
//	open      disk, name                         → OK   (binds the file to the connection)
//	create    disk, name, truncate:1             → OK   (binds the file to the connection)
//	remove    disk, name                         → OK
//	rename    disk, old, new                     → OK
//	list      disk, dir                          → OK more:1 names… (repeated while more = 1)
//	usage     disk                               → OK total:8 free:8
//	read      off:8 n:4 (n ≤ MaxChunk)           → OK eof:1 data
//	write     off:8 data (≤ MaxChunk)            → OK n:4
//	size                                         → OK size:8
//	truncate  size:8                             → OK
//	sync                                         → OK
//	close                                        → OK   (unbinds the file)
//	willneed  off:8 n:8                          → no reply (a hint)
//	writeback off:8 n:8                          → no reply (a hint)
//
// An open file is bound to its connection: the client takes a connection from its pool for
// each open File and gives it back at Close, and the server closes a file whose connection
// ends. So a client that dies leaves no file open, and the file's calls are serialized on its
// connection. Reads and writes larger than MaxChunk are split into MaxChunk calls.
//
// Errors. A remote failure comes back as a *RemoteError that wraps the errno the remote disk
// reported (so errors.Is(err, fs.ErrNotExist) and syscall.ENOSPC work across the wire) and a
// sentinel of this package for its kind, or blobstore.ErrStaleGeneration: the served disk
// applies blobstore's generation fence to shard files being written (a write of an older
// generation than the file's header is refused, issue 18), so a writer on another node that
// lost its upload's lease cannot change a shard that a newer writer reopened. A frame that breaks the protocol (unknown type,
// oversized or malformed payload) is refused: the server answers ErrProtocol and closes the
// connection; the client drops the connection and returns an error wrapping ErrProtocol.
package shardnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// Version is the protocol version the hello request carries.
const Version byte = 1

// Frame bounds.
const (
	// MaxChunk is the largest read or write one call carries.
	MaxChunk = 1 << 20
	// MaxPayload is the largest frame payload either side accepts: a chunk plus its header.
	MaxPayload = MaxChunk + 64
	// maxName bounds a file name or disk ID.
	maxName = 1024
	// maxErrText bounds the error text of a reply.
	maxErrText = 1024
	// frameHeader is the size of a frame's type and length.
	frameHeader = 5
)

// Request ops.
const (
	opHello     byte = 'h'
	opOpen      byte = 'o'
	opCreate    byte = 'c'
	opRemove    byte = 'd'
	opRename    byte = 'm'
	opList      byte = 'l'
	opUsage     byte = 'u'
	opRead      byte = 'r'
	opWrite     byte = 'w'
	opSize      byte = 's'
	opTruncate  byte = 't'
	opSync      byte = 'y'
	opClose     byte = 'x'
	opWillNeed  byte = 'n'
	opWriteback byte = 'b'
)

// Reply types.
const (
	statusOK    byte = 0
	statusError byte = 1
)

// Error kinds of a statusError reply.
const (
	kindOther       byte = 0
	kindNotExist    byte = 1
	kindExist       byte = 2
	kindPermission  byte = 3
	kindUnknownDisk byte = 4
	kindProtocol    byte = 5
	kindNoFile      byte = 6
	kindBusy        byte = 7
	kindStale       byte = 8 // blobstore.ErrStaleGeneration: the disk's generation fence
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrUnknownDisk is wrapped when the server does not hold the disk a request names.
	ErrUnknownDisk = errors.New("shardnet: disk not served by this node")

	// ErrProtocol is wrapped when a frame breaks the protocol, on either side.
	ErrProtocol = errors.New("shardnet: protocol error")

	// ErrRemote is wrapped by every failure the remote node reported (a *RemoteError).
	ErrRemote = errors.New("shardnet: remote disk failed")

	// ErrBusy is wrapped when the server refused a connection because it serves its maximum.
	ErrBusy = errors.New("shardnet: server busy")

	// ErrClosed is returned by calls on a closed Client or File.
	ErrClosed = errors.New("shardnet: closed")
)

// RemoteError is a failure reported by the serving node. It wraps ErrRemote, the sentinel of
// its kind (fs.ErrNotExist, ErrUnknownDisk…) and the remote errno when there was one.
type RemoteError struct {
	Node  string // the node that reported it
	Kind  byte   // one of the kind constants
	Errno uint32 // the remote syscall.Errno, 0 for none
	Text  string // the remote error's text, at most maxErrText bytes
}

func (e *RemoteError) Error() string { return fmt.Sprintf("node %s: %s", e.Node, e.Text) }

// Unwrap makes errors.Is see ErrRemote, the kind's sentinel and the errno.
func (e *RemoteError) Unwrap() []error {
	errs := []error{ErrRemote}
	if k := kindError(e.Kind); k != nil {
		errs = append(errs, k)
	}
	if e.Errno != 0 {
		errs = append(errs, errnoError(e.Errno))
	}
	return errs
}

// frame is one decoded frame. Its payload aliases the reader's buffer until the next read.
type frame struct {
	typ     byte
	payload []byte
}

// readFrame reads one frame from r into buf (grown up to frameHeader+MaxPayload, never more)
// and returns it with the buffer to reuse. A payload over MaxPayload is refused before it is
// read.
func readFrame(r io.Reader, buf []byte) (frame, []byte, error) {
	if cap(buf) < frameHeader {
		buf = make([]byte, frameHeader, 4096)
	}
	buf = buf[:frameHeader]
	if _, err := io.ReadFull(r, buf); err != nil {
		return frame{}, buf, err
	}
	n := binary.BigEndian.Uint32(buf[1:])
	if n > MaxPayload {
		return frame{}, buf, fmt.Errorf("%w: frame of %d bytes, at most %d", ErrProtocol, n, MaxPayload)
	}
	typ := buf[0]
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, buf, err
	}
	return frame{typ: typ, payload: buf}, buf, nil
}

// appendFrame appends a frame of type typ whose payload is the rest of out after the header it
// reserves: start with out = beginFrame(out, typ), append the payload, then endFrame(out, start).
func beginFrame(out []byte, typ byte) ([]byte, int) {
	start := len(out)
	return append(out, typ, 0, 0, 0, 0), start
}

func endFrame(out []byte, start int) []byte {
	binary.BigEndian.PutUint32(out[start+1:], uint32(len(out)-start-frameHeader))
	return out
}

func appendString(out []byte, s string) []byte {
	out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
	return append(out, s...)
}

// decoder reads the fields of a payload; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: short or malformed %s", ErrProtocol, what)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) byte {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// offset reads a file offset or size: at most math.MaxInt64.
func (d *decoder) offset(what string) int64 {
	v := d.u64(what)
	if v > math.MaxInt64 {
		d.fail(what)
		return 0
	}
	return int64(v)
}

func (d *decoder) str(limit int, what string) string {
	l := d.take(2, what)
	if l == nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(l))
	if n > limit {
		d.fail(what)
		return ""
	}
	return string(d.take(n, what))
}

// name reads a file name: a relative, slash-separated path with no "..", no backslash, no
// NUL, valid UTF-8. The served disk checks it again; refusing here keeps bad names off every
// Disk implementation.
func (d *decoder) name(what string) string {
	s := d.str(maxName, what)
	if d.err == nil {
		if err := validName(s); err != nil {
			d.err = fmt.Errorf("%w: %s: %v", ErrProtocol, what, err)
		}
	}
	return s
}

// end fails when bytes are left over.
func (d *decoder) end(what string) {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after %s", ErrProtocol, len(d.b), what)
	}
}

func validName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case strings.HasPrefix(s, "/"), strings.Contains(s, ".."), strings.Contains(s, "\\"), strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("bad name %q", s)
	case !utf8.ValidString(s):
		return errors.New("name is not UTF-8")
	}
	return nil
}

// request is a decoded request.
type request struct {
	op       byte
	version  byte
	disk     string
	name     string
	newName  string
	truncate bool
	off      int64
	n        int64 // read length, or a hint's range length
	data     []byte
}

// parseRequest decodes a request frame. It is the parser of outside input on the server: it
// refuses anything malformed or over the bounds (FuzzParseRequest).
func parseRequest(f frame) (request, error) {
	d := decoder{b: f.payload}
	r := request{op: f.typ}
	switch f.typ {
	case opHello:
		r.version = d.u8("version")
	case opOpen, opRemove:
		r.disk = d.str(maxName, "disk ID")
		r.name = d.name("name")
	case opCreate:
		r.disk = d.str(maxName, "disk ID")
		r.name = d.name("name")
		switch d.u8("truncate flag") {
		case 0:
		case 1:
			r.truncate = true
		default:
			d.fail("truncate flag")
		}
	case opRename:
		r.disk = d.str(maxName, "disk ID")
		r.name = d.name("old name")
		r.newName = d.name("new name")
	case opList:
		r.disk = d.str(maxName, "disk ID")
		r.name = d.name("dir")
	case opUsage:
		r.disk = d.str(maxName, "disk ID")
	case opRead:
		r.off = d.offset("offset")
		r.n = int64(d.u32("length"))
		if r.n > MaxChunk {
			d.fail("length")
		}
	case opWrite:
		r.off = d.offset("offset")
		r.data = d.b
		d.b = nil
		if len(r.data) > MaxChunk {
			d.fail("data")
		}
	case opTruncate:
		r.off = d.offset("size")
	case opWillNeed, opWriteback:
		r.off = d.offset("offset")
		r.n = d.offset("length")
	case opSize, opSync, opClose:
	default:
		return r, fmt.Errorf("%w: unknown op %#x", ErrProtocol, f.typ)
	}
	d.end("request")
	return r, d.err
}

// parseError decodes a statusError payload.
func parseError(node string, payload []byte) error {
	d := decoder{b: payload}
	e := &RemoteError{Node: node}
	e.Kind = d.u8("error kind")
	e.Errno = d.u32("errno")
	e.Text = d.str(maxErrText, "error text")
	d.end("error")
	if d.err != nil {
		return d.err
	}
	return e
}
