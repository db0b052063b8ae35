package shardnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"valise/blobstore"
	"valise/internal/clusternet"
)

// ClientConfig tunes a Client.
type ClientConfig struct {
	// Timeout bounds a disk call when its ctx has no earlier deadline, and every File call
	// (File methods take no ctx).
	Timeout time.Duration
	// MaxIdle is how many idle connections are kept per node.
	MaxIdle int
	// IdleTime is how long an idle connection may be reused; keep it below the server's
	// IdleTimeout so that a reused connection was not closed by the server meanwhile.
	IdleTime time.Duration
}

// DefaultClientConfig returns the production settings.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{Timeout: 30 * time.Second, MaxIdle: 8, IdleTime: time.Minute}
}

// Validate reports the first thing wrong with c.
func (c *ClientConfig) Validate() error {
	if c.Timeout <= 0 || c.IdleTime <= 0 {
		return errors.New("shardnet client config: Timeout and IdleTime must be positive")
	}
	if c.MaxIdle < 0 {
		return errors.New("shardnet client config: negative MaxIdle")
	}
	return nil
}

// Client dials other nodes' shard servers through a cluster port and keeps a small pool of
// connections per node. Safe for concurrent use.
type Client struct {
	mux *clusternet.Mux
	cfg ClientConfig

	mu     sync.Mutex // guards the fields below
	idle   map[nodeKey][]*clientConn
	busy   map[*clientConn]struct{} // connections in a call or bound to an open File
	closed bool
}

// nodeKey names a node: its address and the node ID its certificate must name.
type nodeKey struct{ addr, id string }

// clientConn is one connection to a shard server.
type clientConn struct {
	c      *clusternet.Conn
	key    nodeKey
	r      *bufio.Reader
	buf    []byte // frame read buffer, reused
	out    []byte // request buffer, reused
	idleAt time.Time
}

// NewClient returns a client dialing through mux.
func NewClient(mux *clusternet.Mux, cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{mux: mux, cfg: cfg, idle: make(map[nodeKey][]*clientConn), busy: make(map[*clientConn]struct{})}, nil
}

// Close closes every connection, idle or in use: calls in progress and open Files fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for k, l := range c.idle {
		for _, cn := range l {
			cn.c.Close()
		}
		delete(c.idle, k)
	}
	for cn := range c.busy {
		cn.c.Close()
	}
	return nil
}

// RemoteDisk returns disk id held by node nodeID at cluster address nodeAddr. Nothing is dialed
// until the first call; the disk's calls fail once c is closed.
func (c *Client) RemoteDisk(nodeAddr, nodeID string, id blobstore.DiskID) *RemoteDisk {
	return &RemoteDisk{c: c, key: nodeKey{addr: nodeAddr, id: nodeID}, id: id}
}

// get returns a connection to key, pooled (reused) or new.
func (c *Client) get(ctx context.Context, key nodeKey) (*clientConn, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	var stale []*clientConn
	defer func() {
		for _, cn := range stale {
			cn.c.Close()
		}
	}()
	for l := c.idle[key]; len(l) > 0; l = c.idle[key] {
		cn := l[len(l)-1]
		c.idle[key] = l[:len(l)-1]
		if time.Since(cn.idleAt) > c.cfg.IdleTime {
			stale = append(stale, cn)
			continue
		}
		c.busy[cn] = struct{}{}
		c.mu.Unlock()
		return cn, true, nil
	}
	c.mu.Unlock()
	cn, err := c.dial(ctx, key)
	return cn, false, err
}

func (c *Client) dial(ctx context.Context, key nodeKey) (*clientConn, error) {
	nc, err := c.mux.Dial(ctx, clusternet.ProtoShard, key.addr, key.id)
	if err != nil {
		return nil, err
	}
	cn := &clientConn{c: nc, key: key, r: bufio.NewReaderSize(nc, 64<<10)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	c.busy[cn] = struct{}{}
	c.mu.Unlock()
	out, start := beginFrame(cn.out[:0], opHello)
	out = append(out, Version)
	if _, err := c.call(ctx, cn, endFrame(out, start)); err != nil {
		c.drop(cn)
		return nil, fmt.Errorf("hello: %w", err)
	}
	return cn, nil
}

// put gives a healthy connection back to the pool.
func (c *Client) put(cn *clientConn) {
	_ = cn.c.SetDeadline(time.Time{})
	c.mu.Lock()
	delete(c.busy, cn)
	if c.closed || len(c.idle[cn.key]) >= c.cfg.MaxIdle {
		c.mu.Unlock()
		cn.c.Close()
		return
	}
	cn.idleAt = time.Now()
	c.idle[cn.key] = append(c.idle[cn.key], cn)
	c.mu.Unlock()
}

// drop closes a connection whose stream can no longer be trusted.
func (c *Client) drop(cn *clientConn) {
	c.mu.Lock()
	delete(c.busy, cn)
	c.mu.Unlock()
	cn.c.Close()
}

// call sends req and reads one reply frame, within ctx. A statusError reply is returned as a
// *RemoteError with the connection still usable (unless the error is ErrProtocol); any other
// error leaves the connection unusable.
func (c *Client) call(ctx context.Context, cn *clientConn, req []byte) (frame, error) {
	dl, _ := ctx.Deadline()
	_ = cn.c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = cn.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := cn.c.Write(req); err != nil {
		return frame{}, ctxErr(ctx, fmt.Errorf("send request: %w", err))
	}
	return c.readReply(ctx, cn)
}

func (c *Client) readReply(ctx context.Context, cn *clientConn) (frame, error) {
	f, buf, err := readFrame(cn.r, cn.buf)
	cn.buf = buf
	if err != nil {
		return frame{}, ctxErr(ctx, fmt.Errorf("read reply: %w", err))
	}
	switch f.typ {
	case statusOK:
		return f, nil
	case statusError:
		return frame{}, parseError(cn.key.id, f.payload)
	}
	return frame{}, fmt.Errorf("%w: reply type %#x", ErrProtocol, f.typ)
}

// usable reports whether a connection is still in step after err from call.
func usable(err error) bool {
	var re *RemoteError
	return err == nil || errors.As(err, &re) && !errors.Is(err, ErrProtocol)
}

// ctxErr makes a deadline or cancellation visible to errors.Is.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded // the conn deadline fired before ctx's timer
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// RemoteDisk is a blobstore.Disk held by another node, reached through a Client.
type RemoteDisk struct {
	c   *Client
	key nodeKey
	id  blobstore.DiskID
}

var _ blobstore.Disk = (*RemoteDisk)(nil)

// ID returns the remote disk's ID.
func (d *RemoteDisk) ID() blobstore.DiskID { return d.id }

func (d *RemoteDisk) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d.c.cfg.Timeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d.c.cfg.Timeout)
}

// roundTrip runs one disk call: build appends the request to out. A reused connection that
// fails before any reply (the server closed it meanwhile) is retried once on a new one when
// the call is idempotent. It returns the reply and the connection, which the caller must
// give back (put), bind to a File, or drop.
func (d *RemoteDisk) roundTrip(ctx context.Context, op string, idempotent bool, build func(out []byte) []byte) (frame, *clientConn, error) {
	for attempt := 0; ; attempt++ {
		cn, reused, err := d.c.get(ctx, d.key)
		if err != nil {
			return frame{}, nil, d.wrap(op, err)
		}
		f, err := d.c.call(ctx, cn, build(cn.out[:0]))
		if err == nil {
			return f, cn, nil
		}
		if usable(err) {
			d.c.put(cn)
			return frame{}, nil, d.wrap(op, err)
		}
		d.c.drop(cn)
		if !reused || !idempotent || attempt > 0 || ctx.Err() != nil {
			return frame{}, nil, d.wrap(op, err)
		}
	}
}

func (d *RemoteDisk) wrap(op string, err error) error {
	return fmt.Errorf("%s on disk %s of node %s: %w", op, d.id, d.key.id, err)
}

// simple runs a call whose OK reply is empty.
func (d *RemoteDisk) simple(ctx context.Context, op string, idempotent bool, build func(out []byte) []byte) error {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	f, cn, err := d.roundTrip(ctx, op, idempotent, build)
	if err != nil {
		return err
	}
	if len(f.payload) != 0 {
		d.c.drop(cn)
		return d.wrap(op, fmt.Errorf("%w: %d bytes in an empty reply", ErrProtocol, len(f.payload)))
	}
	d.c.put(cn)
	return nil
}

// request returns a builder of a disk request: the disk ID, names, then extra bytes.
func (d *RemoteDisk) request(op byte, names []string, extra ...byte) func(out []byte) []byte {
	return func(out []byte) []byte {
		out, start := beginFrame(out, op)
		out = appendString(out, string(d.id))
		for _, n := range names {
			out = appendString(out, n)
		}
		out = append(out, extra...)
		return endFrame(out, start)
	}
}

// checkNames refuses names that could not travel, before dialing.
func checkNames(names ...string) error {
	for _, n := range names {
		if len(n) > maxName {
			return fmt.Errorf("name of %d bytes, at most %d", len(n), maxName)
		}
		if err := validName(n); err != nil {
			return err
		}
	}
	return nil
}

// Open opens name on the remote disk. The File holds a connection until Close.
func (d *RemoteDisk) Open(ctx context.Context, name string) (blobstore.File, error) {
	return d.open(ctx, "open "+name, name, d.request(opOpen, []string{name}))
}

// Create opens name for reading and writing on the remote disk, creating it when missing
// (see blobstore.Disk). The File holds a connection until Close.
func (d *RemoteDisk) Create(ctx context.Context, name string, truncate bool) (blobstore.File, error) {
	flag := byte(0)
	if truncate {
		flag = 1
	}
	return d.open(ctx, "create "+name, name, d.request(opCreate, []string{name}, flag))
}

func (d *RemoteDisk) open(ctx context.Context, op, name string, build func(out []byte) []byte) (blobstore.File, error) {
	if err := checkNames(name); err != nil {
		return nil, d.wrap(op, err)
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	f, cn, err := d.roundTrip(ctx, op, true, build)
	if err != nil {
		return nil, err
	}
	if len(f.payload) != 0 {
		d.c.drop(cn)
		return nil, d.wrap(op, fmt.Errorf("%w: %d bytes in an empty reply", ErrProtocol, len(f.payload)))
	}
	_ = cn.c.SetDeadline(time.Time{})
	return &remoteFile{d: d, name: name, cn: cn}, nil
}

// Remove deletes name on the remote disk; a missing file is not an error.
func (d *RemoteDisk) Remove(ctx context.Context, name string) error {
	if err := checkNames(name); err != nil {
		return d.wrap("remove "+name, err)
	}
	return d.simple(ctx, "remove "+name, true, d.request(opRemove, []string{name}))
}

// Rename renames oldName to newName on the remote disk (see blobstore.Disk). It is not
// retried: a second rename of a name already moved would fail with fs.ErrNotExist.
func (d *RemoteDisk) Rename(ctx context.Context, oldName, newName string) error {
	op := "rename " + oldName
	if err := checkNames(oldName, newName); err != nil {
		return d.wrap(op, err)
	}
	return d.simple(ctx, op, false, d.request(opRename, []string{oldName, newName}))
}

// List returns the names of the files under dir on the remote disk, streamed in frames.
func (d *RemoteDisk) List(ctx context.Context, dir string) ([]string, error) {
	op := "list " + dir
	if err := checkNames(dir); err != nil {
		return nil, d.wrap(op, err)
	}
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	f, cn, err := d.roundTrip(ctx, op, true, d.request(opList, []string{dir}))
	if err != nil {
		return nil, err
	}
	var names []string
	for {
		dec := decoder{b: f.payload}
		more := dec.u8("list flag")
		for dec.err == nil && len(dec.b) > 0 {
			names = append(names, dec.str(maxName, "name"))
		}
		if dec.err == nil && more > 1 {
			dec.fail("list flag")
		}
		if dec.err != nil {
			d.c.drop(cn)
			return nil, d.wrap(op, dec.err)
		}
		if more == 0 {
			d.c.put(cn)
			return names, nil
		}
		if f, err = d.c.readReply(ctx, cn); err != nil {
			d.c.drop(cn)
			return nil, d.wrap(op, err)
		}
	}
}

// Usage returns the remote disk's size and free space in bytes.
func (d *RemoteDisk) Usage(ctx context.Context) (uint64, uint64, error) {
	ctx, cancel := d.withTimeout(ctx)
	defer cancel()
	f, cn, err := d.roundTrip(ctx, "usage", true, d.request(opUsage, nil))
	if err != nil {
		return 0, 0, err
	}
	dec := decoder{b: f.payload}
	total, free := dec.u64("total"), dec.u64("free")
	dec.end("usage")
	if dec.err != nil {
		d.c.drop(cn)
		return 0, 0, d.wrap("usage", dec.err)
	}
	d.c.put(cn)
	return total, free, nil
}

// remoteFile is an open File of a RemoteDisk, bound to one connection until Close. Its calls
// are serialized on that connection.
type remoteFile struct {
	d    *RemoteDisk
	name string

	mu  sync.Mutex  // guards cn and err, and serializes the calls on cn
	cn  *clientConn // nil once closed or broken
	err error       // why cn is nil
}

var (
	_ blobstore.File = (*remoteFile)(nil)
	_ willNeeder     = (*remoteFile)(nil)
	_ writeBacker    = (*remoteFile)(nil)
)

// callLocked runs one file call with the client's timeout. A failure that breaks the stream
// closes the connection and the file with it: the server closes its side, so the file cannot
// be used again (reopen it). Called with f.mu held.
func (f *remoteFile) callLocked(op string, req []byte) (frame, error) {
	if f.cn == nil {
		return frame{}, f.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.d.c.cfg.Timeout)
	defer cancel()
	fr, err := f.d.c.call(ctx, f.cn, req)
	if err != nil {
		err = f.d.wrap(op+" "+f.name, err)
		if !usable(err) {
			f.breakLocked(err)
		}
	}
	return fr, err
}

func (f *remoteFile) breakLocked(err error) {
	f.d.c.drop(f.cn)
	f.cn = nil
	f.err = fmt.Errorf("file unusable after an earlier failure: %w", err)
}

func (f *remoteFile) protoLocked(op string, err error) error {
	err = f.d.wrap(op+" "+f.name, err)
	f.breakLocked(err)
	return err
}

// ReadAt reads len(p) bytes at off in calls of at most MaxChunk; a read reaching the end of
// the file returns io.EOF with the bytes before it.
func (f *remoteFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", f.name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	done := 0
	for done < len(p) {
		if f.cn == nil {
			return done, f.err
		}
		n := min(len(p)-done, MaxChunk)
		out, start := beginFrame(f.cn.out[:0], opRead)
		out = binary.BigEndian.AppendUint64(out, uint64(off)+uint64(done))
		out = binary.BigEndian.AppendUint32(out, uint32(n))
		fr, err := f.callLocked("read", endFrame(out, start))
		if err != nil {
			return done, err
		}
		if len(fr.payload) < 1 || fr.payload[0] > 1 || len(fr.payload)-1 > n {
			return done, f.protoLocked("read", fmt.Errorf("%w: read reply of %d bytes for %d", ErrProtocol, len(fr.payload), n))
		}
		eof := fr.payload[0] == 1
		got := copy(p[done:], fr.payload[1:])
		done += got
		if eof {
			return done, io.EOF
		}
		if got < n {
			return done, f.protoLocked("read", fmt.Errorf("%w: short read without end of file", ErrProtocol))
		}
	}
	return done, nil
}

// WriteAt writes p at off in calls of at most MaxChunk, each acknowledged before the next is
// sent: the server's disk paces the writer.
func (f *remoteFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("write %s: negative offset", f.name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	done := 0
	for done < len(p) || len(p) == 0 && done == 0 {
		if f.cn == nil {
			return done, f.err
		}
		n := min(len(p)-done, MaxChunk)
		out, start := beginFrame(f.cn.out[:0], opWrite)
		out = binary.BigEndian.AppendUint64(out, uint64(off)+uint64(done))
		out = append(out, p[done:done+n]...)
		f.cn.out = out[:0]
		fr, err := f.callLocked("write", endFrame(out, start))
		if err != nil {
			return done, err
		}
		dec := decoder{b: fr.payload}
		w := int(dec.u32("written"))
		dec.end("write reply")
		if dec.err == nil && w > n {
			dec.fail("written")
		}
		if dec.err != nil {
			return done, f.protoLocked("write", dec.err)
		}
		done += w
		if w < n {
			return done, f.d.wrap("write "+f.name, io.ErrShortWrite)
		}
		if len(p) == 0 {
			break
		}
	}
	return done, nil
}

// Size returns the remote file's current size.
func (f *remoteFile) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cn == nil {
		return 0, f.err
	}
	out, start := beginFrame(f.cn.out[:0], opSize)
	fr, err := f.callLocked("size", endFrame(out, start))
	if err != nil {
		return 0, err
	}
	dec := decoder{b: fr.payload}
	size := dec.offset("size")
	dec.end("size reply")
	if dec.err != nil {
		return 0, f.protoLocked("size", dec.err)
	}
	return size, nil
}

// emptyCall runs a file call whose OK reply is empty.
func (f *remoteFile) emptyCall(op string, typ byte, arg ...byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.emptyCallLocked(op, typ, arg...)
}

func (f *remoteFile) emptyCallLocked(op string, typ byte, arg ...byte) error {
	if f.cn == nil {
		return f.err
	}
	out, start := beginFrame(f.cn.out[:0], typ)
	out = append(out, arg...)
	fr, err := f.callLocked(op, endFrame(out, start))
	if err != nil {
		return err
	}
	if len(fr.payload) != 0 {
		return f.protoLocked(op, fmt.Errorf("%w: %d bytes in an empty reply", ErrProtocol, len(fr.payload)))
	}
	return nil
}

// Truncate changes the remote file's size.
func (f *remoteFile) Truncate(size int64) error {
	if size < 0 {
		return fmt.Errorf("truncate %s: negative size", f.name)
	}
	return f.emptyCall("truncate", opTruncate, binary.BigEndian.AppendUint64(nil, uint64(size))...)
}

// Sync makes the writes so far durable on the remote disk.
func (f *remoteFile) Sync() error { return f.emptyCall("sync", opSync) }

// Close closes the remote file and gives its connection back to the pool.
func (f *remoteFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cn == nil {
		if f.err == nil {
			return fmt.Errorf("close %s: %w", f.name, ErrClosed)
		}
		return nil // the connection broke: the server closed the file when it ended
	}
	err := f.emptyCallLocked("close", opClose)
	if f.cn != nil {
		f.d.c.put(f.cn)
		f.cn = nil
	}
	f.err = fmt.Errorf("file %s: %w", f.name, ErrClosed)
	return err
}

// hintLocked sends a hint frame, which has no reply. Called with f.mu held.
func (f *remoteFile) hintLocked(typ byte, off, n int64) {
	if f.cn == nil || off < 0 || n < 0 {
		return
	}
	out, start := beginFrame(f.cn.out[:0], typ)
	out = binary.BigEndian.AppendUint64(out, uint64(off))
	out = binary.BigEndian.AppendUint64(out, uint64(n))
	_ = f.cn.c.SetWriteDeadline(time.Now().Add(f.d.c.cfg.Timeout))
	if _, err := f.cn.c.Write(endFrame(out, start)); err != nil {
		f.breakLocked(f.d.wrap("hint "+f.name, err))
	}
}

// WillNeed asks the remote disk to read a range ahead (a hint). It never waits for the
// file's connection: when another call holds it, the hint is dropped.
func (f *remoteFile) WillNeed(off, n int64) {
	if !f.mu.TryLock() {
		return
	}
	defer f.mu.Unlock()
	f.hintLocked(opWillNeed, off, n)
}

// StartWriteback asks the remote disk to start writing a range (a hint; Sync still makes it
// durable). It may wait for a call in progress on the file.
func (f *remoteFile) StartWriteback(off, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hintLocked(opWriteback, off, n)
}
