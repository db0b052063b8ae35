package shardnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"time"

	"valise/blobstore"
	"valise/internal/clusternet"
	"valise/internal/logkey"
)

// ServerConfig tunes a Server.
type ServerConfig struct {
	// CallTimeout bounds one call: the context of a disk operation and the write of its reply.
	CallTimeout time.Duration
	// IdleTimeout closes a connection that sends no request for this long (its open file with
	// it). Clients drop idle connections before this (ClientConfig.IdleTime).
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at once, and so the open files and frame buffers
	// (at most MaxPayload each); more are answered ErrBusy and closed.
	MaxConns int
}

// DefaultServerConfig returns the production settings.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{CallTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxConns: 256}
}

// Validate reports the first thing wrong with c.
func (c *ServerConfig) Validate() error {
	if c.CallTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("shardnet server config: timeouts must be positive")
	}
	if c.MaxConns <= 0 {
		return errors.New("shardnet server config: MaxConns must be positive")
	}
	return nil
}

// Server serves this node's own disks on a cluster port's ProtoShard connections.
type Server struct {
	cfg    ServerConfig
	disks  map[blobstore.DiskID]blobstore.Disk // never changed after NewServer
	logger *slog.Logger
	srv    *clusternet.ConnServer
}

// NewServer starts serving disks (this node's own, by ID) on mux's ProtoShard listener.
func NewServer(mux *clusternet.Mux, disks map[blobstore.DiskID]blobstore.Disk, cfg ServerConfig, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for id, d := range disks {
		if d == nil || d.ID() != id {
			return nil, fmt.Errorf("shardnet server: disk %q is nil or names another ID", id)
		}
	}
	ln, err := mux.Listener(clusternet.ProtoShard)
	if err != nil {
		return nil, fmt.Errorf("shard server: %w", err)
	}
	s := &Server{cfg: cfg, disks: maps.Clone(disks), logger: logger.With(logkey.Component, "shardnet")}
	s.srv = clusternet.Serve(ln, cfg.MaxConns, s.serve, s.refuse)
	return s, nil
}

// Close stops the server: no more connections are accepted, open connections are closed
// (their files with them), and Close waits for the server's goroutines.
func (s *Server) Close() error { return s.srv.Close() }

// refuse answers ErrBusy to a connection over MaxConns and closes it.
func (s *Server) refuse(c net.Conn) {
	peer, _ := clusternet.PeerID(c)
	s.logger.Warn("shard connection refused: too many connections", logkey.NodeID, peer)
	// Read the hello first: closing with unread data would reset the connection, and the
	// client could lose the reply that says why.
	_ = c.SetDeadline(time.Now().Add(s.cfg.CallTimeout))
	if _, err := io.ReadFull(c, make([]byte, frameHeader+1)); err != nil { // a hello is 6 bytes
		return
	}
	_, _ = c.Write(appendError(nil, fmt.Errorf("%w: %d connections", ErrBusy, s.cfg.MaxConns)))
}

// conn is the state of one served connection.
type conn struct {
	ctx   context.Context // cancelled when the server closes
	peer  string
	hello bool
	file  blobstore.File // the file bound to the connection, or nil
	disk  blobstore.DiskID
	out   []byte // reply buffer, reused
}

func (s *Server) serve(ctx context.Context, c net.Conn) {
	st := &conn{ctx: ctx}
	st.peer, _ = clusternet.PeerID(c)
	defer func() {
		if st.file != nil {
			if err := st.file.Close(); err != nil {
				s.logger.Warn("close file of an ended shard connection", logkey.NodeID, st.peer, logkey.Disk, st.disk, logkey.Err, err)
			}
		}
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		f, nbuf, err := readFrame(r, buf)
		buf = nbuf
		var req request
		if err == nil {
			req, err = parseRequest(f)
		}
		if err == nil && !st.hello && req.op != opHello {
			err = fmt.Errorf("%w: first request is %#x, not hello", ErrProtocol, req.op)
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				s.logger.Warn("shard connection refused", logkey.NodeID, st.peer, logkey.Err, err)
				s.reply(c, st, appendError(st.out[:0], err))
			}
			return // EOF, idle timeout, closed, or a broken frame: the stream cannot be trusted
		}
		out, keep := s.handle(st, req)
		st.out = out[:0]
		if cap(st.out) > 2*(frameHeader+MaxPayload) {
			st.out = nil // a long list: do not keep its buffer for the connection's life
		}
		if len(out) > 0 && !s.reply(c, st, out) {
			return
		}
		if !keep {
			return
		}
	}
}

func (s *Server) reply(c net.Conn, st *conn, out []byte) bool {
	_ = c.SetWriteDeadline(time.Now().Add(s.cfg.CallTimeout))
	if _, err := c.Write(out); err != nil {
		s.logger.Debug("shard reply not sent", logkey.NodeID, st.peer, logkey.Err, err)
		return false
	}
	return true
}

// willNeeder and writeBacker are the optional hints of a blobstore.File (see blobstore's
// willNeeder and writeBacker), passed on to the served file when it has them.
type willNeeder interface{ WillNeed(off, n int64) }
type writeBacker interface{ StartWriteback(off, n int64) }

// handle runs one request and returns its reply (empty for a hint) and whether the connection
// may carry another request.
func (s *Server) handle(st *conn, req request) ([]byte, bool) {
	out := st.out[:0]
	ok := func() ([]byte, int) { return beginFrame(out, statusOK) }
	fail := func(err error) ([]byte, bool) { return appendError(out, err), true }
	ctx, cancel := context.WithTimeout(st.ctx, s.cfg.CallTimeout)
	defer cancel()

	switch req.op {
	case opHello:
		if req.version != Version {
			return appendError(out, fmt.Errorf("%w: version %d, this node speaks %d", ErrProtocol, req.version, Version)), false
		}
		st.hello = true
		o, start := ok()
		return endFrame(o, start), true
	case opRead, opWrite, opSize, opTruncate, opSync, opClose, opWillNeed, opWriteback:
		return s.handleFile(st, req, out)
	}

	d, found := s.disks[blobstore.DiskID(req.disk)]
	if !found {
		return fail(fmt.Errorf("%w: %q", ErrUnknownDisk, req.disk))
	}
	switch req.op {
	case opOpen, opCreate:
		if st.file != nil {
			return fail(fmt.Errorf("%w: a file is already open", errNoFile))
		}
		var f blobstore.File
		var err error
		if req.op == opOpen {
			f, err = d.Open(ctx, req.name)
		} else {
			f, err = d.Create(ctx, req.name, req.truncate)
		}
		if err != nil {
			return fail(err)
		}
		st.file, st.disk = f, d.ID()
		o, start := ok()
		return endFrame(o, start), true
	case opRemove:
		if err := d.Remove(ctx, req.name); err != nil {
			return fail(err)
		}
	case opRename:
		if err := d.Rename(ctx, req.name, req.newName); err != nil {
			return fail(err)
		}
	case opUsage:
		total, free, err := d.Usage(ctx)
		if err != nil {
			return fail(err)
		}
		o, start := ok()
		o = binary.BigEndian.AppendUint64(o, total)
		o = binary.BigEndian.AppendUint64(o, free)
		return endFrame(o, start), true
	case opList:
		names, err := d.List(ctx, req.name)
		if err != nil {
			return fail(err)
		}
		return appendList(out, names), true
	}
	o, start := ok()
	return endFrame(o, start), true
}

// appendList appends the list reply: frames of names, each at most MaxPayload, the last with
// more = 0. A name longer than maxName cannot travel and fails the list.
func appendList(out []byte, names []string) []byte {
	for _, n := range names {
		if len(n) > maxName {
			return appendError(out, fmt.Errorf("list: name of %d bytes, at most %d travel", len(n), maxName))
		}
	}
	for {
		o, start := beginFrame(out, statusOK)
		o = append(o, 0)
		for len(names) > 0 && len(o)-start-frameHeader+2+len(names[0]) <= MaxPayload {
			o = appendString(o, names[0])
			names = names[1:]
		}
		if len(names) > 0 {
			o[start+frameHeader] = 1
		}
		out = endFrame(o, start)
		if len(names) == 0 {
			return out
		}
	}
}

func (s *Server) handleFile(st *conn, req request, out []byte) ([]byte, bool) {
	f := st.file
	if f == nil {
		if req.op == opWillNeed || req.op == opWriteback {
			return out, true
		}
		return appendError(out, errNoFile), true
	}
	o, start := beginFrame(out, statusOK)
	switch req.op {
	case opRead:
		o = append(o, 0)
		at := len(o)
		o = slices.Grow(o, int(req.n))[:at+int(req.n)]
		n, err := f.ReadAt(o[at:], req.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return appendError(out, err), true
		}
		if err != nil || n < int(req.n) {
			o[at-1] = 1 // end of file
		}
		o = o[:at+n]
	case opWrite:
		n, err := f.WriteAt(req.data, req.off)
		if err != nil {
			return appendError(out, err), true
		}
		o = binary.BigEndian.AppendUint32(o, uint32(n))
	case opSize:
		size, err := f.Size()
		if err != nil {
			return appendError(out, err), true
		}
		o = binary.BigEndian.AppendUint64(o, uint64(size))
	case opTruncate:
		if err := f.Truncate(req.off); err != nil {
			return appendError(out, err), true
		}
	case opSync:
		if err := f.Sync(); err != nil {
			return appendError(out, err), true
		}
	case opClose:
		st.file = nil
		if err := f.Close(); err != nil {
			return appendError(out, err), true
		}
	case opWillNeed:
		if h, ok := f.(willNeeder); ok {
			h.WillNeed(req.off, req.n)
		}
		return out, true
	case opWriteback:
		if h, ok := f.(writeBacker); ok {
			h.StartWriteback(req.off, req.n)
		}
		return out, true
	}
	return endFrame(o, start), true
}
