package raftnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
	"valise/internal/logkey"
	"valise/raftfsm"
)

// The call protocol (clusternet.ProtoCall). A connection carries any number of calls, one at
// a time. Request: one op byte (opPropose and opPing: see forward.go). Reply: one status byte, then for statusOK the op's result
// (opReadIndex: the index, 8 bytes big-endian), otherwise a 2-byte big-endian length and that
// many bytes of error text (at most maxErrText).
const (
	opReadIndex byte = 1

	statusOK        byte = 0
	statusNotLeader byte = 1
	statusError     byte = 2

	maxErrText = 1024
)

// ErrCall is wrapped by ReadIndexClient for a reply that breaks the call protocol, or a failure
// reported by the remote node that is not "not the leader".
var ErrCall = errors.New("raftnet: node call failed")

// ReadIndexSource answers read-index calls: the local Store.
type ReadIndexSource interface {
	// ReadIndex verifies that this node is still the leader (raft VerifyLeader) and returns
	// its commit index, or an error wrapping raftfsm.ErrNotLeader when it is not the leader.
	// It is called from the server's connection goroutines, concurrently, and must honour ctx.
	ReadIndex(ctx context.Context) (uint64, error)
}

// ServerConfig tunes the call server.
type ServerConfig struct {
	// CallTimeout bounds the handling of one call (the leader's VerifyLeader round).
	CallTimeout time.Duration
	// IdleTimeout closes a connection that sends no call for this long.
	IdleTimeout time.Duration
}

// DefaultServerConfig returns the production settings.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{CallTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
}

// Validate reports the first thing wrong with c.
func (c *ServerConfig) Validate() error {
	if c.CallTimeout <= 0 || c.IdleTimeout <= 0 {
		return errors.New("raftnet server config: timeouts must be positive")
	}
	return nil
}

// ReadIndexServer answers read-index calls on a cluster port's ProtoCall connections, and
// propose calls (a follower's forwarded batch) when its source is also a ProposeSource, as
// *raftfsm.Store is.
type ReadIndexServer struct {
	cfg    ServerConfig
	src    ReadIndexSource
	logger *slog.Logger
	srv    *clusternet.ConnServer
}

// NewReadIndexServer starts answering read-index calls from src on mux.
func NewReadIndexServer(mux *clusternet.Mux, src ReadIndexSource, cfg ServerConfig, logger *slog.Logger) (*ReadIndexServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := mux.Listener(clusternet.ProtoCall)
	if err != nil {
		return nil, fmt.Errorf("read-index server: %w", err)
	}
	s := &ReadIndexServer{cfg: cfg, src: src, logger: logger.With(logkey.Component, "raftnet-calls")}
	s.srv = clusternet.Serve(ln, 0, s.serve, nil)
	return s, nil
}

// Close stops the server: no more calls are accepted, calls in progress are cancelled, open
// connections are closed, and Close waits for the server's goroutines.
func (s *ReadIndexServer) Close() error { return s.srv.Close() }

func (s *ReadIndexServer) serve(ctx context.Context, c net.Conn) {
	peer, _ := clusternet.PeerID(c)
	r := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		op, err := r.ReadByte()
		if err != nil {
			return
		}
		var reply []byte
		keep := true
		switch op {
		case opPropose:
			_ = c.SetReadDeadline(time.Now().Add(s.cfg.CallTimeout)) // the rest of the request
			reply, keep = s.handlePropose(ctx, r)
		case opPing:
			reply = []byte{statusOK}
		case opProgress:
			reply = s.handleProgress()
		default:
			reply, keep = s.handle(ctx, op)
		}
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.CallTimeout))
		if _, err := c.Write(reply); err != nil {
			s.logger.Debug("read-index reply not sent", "peer", peer, logkey.Err, err)
			return
		}
		if !keep {
			return
		}
	}
}

// handle returns the reply to op and whether the connection may carry another call.
func (s *ReadIndexServer) handle(ctx context.Context, op byte) ([]byte, bool) {
	if op != opReadIndex {
		return errorReply(statusError, fmt.Sprintf("unknown op %d", op)), false
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	idx, err := s.src.ReadIndex(ctx)
	if err != nil {
		if errors.Is(err, raftfsm.ErrNotLeader) || errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return errorReply(statusNotLeader, err.Error()), true
		}
		return errorReply(statusError, err.Error()), true
	}
	return binary.BigEndian.AppendUint64([]byte{statusOK}, idx), true
}

func errorReply(status byte, text string) []byte {
	if len(text) > maxErrText {
		text = text[:maxErrText]
	}
	out := []byte{status, 0, 0}
	binary.BigEndian.PutUint16(out[1:], uint16(len(text)))
	return append(out, text...)
}

// readReply decodes one reply to opReadIndex from r.
func readReply(r io.Reader) (uint64, error) {
	var st [1]byte
	if _, err := io.ReadFull(r, st[:]); err != nil {
		return 0, fmt.Errorf("read reply status: %w", err)
	}
	switch st[0] {
	case statusOK:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, fmt.Errorf("read reply index: %w", err)
		}
		return binary.BigEndian.Uint64(b[:]), nil
	case statusNotLeader, statusError:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, fmt.Errorf("read reply error length: %w", err)
		}
		n := binary.BigEndian.Uint16(l[:])
		if n > maxErrText {
			return 0, fmt.Errorf("%w: error text of %d bytes", ErrCall, n)
		}
		text := make([]byte, n)
		if _, err := io.ReadFull(r, text); err != nil {
			return 0, fmt.Errorf("read reply error text: %w", err)
		}
		if st[0] == statusNotLeader {
			return 0, &remoteError{base: raftfsm.ErrNotLeader, text: string(text)}
		}
		return 0, &remoteError{base: ErrCall, text: string(text)}
	default:
		return 0, fmt.Errorf("%w: unknown reply status %d", ErrCall, st[0])
	}
}

// remoteError is an error reported by the remote node.
type remoteError struct {
	base error
	also error // a second sentinel it wraps, or nil
	text string
}

func (e *remoteError) Error() string {
	if e.also != nil {
		return fmt.Sprintf("%v: %v (remote: %q)", e.base, e.also, e.text)
	}
	return fmt.Sprintf("%v (remote: %q)", e.base, e.text)
}

func (e *remoteError) Unwrap() []error {
	if e.also != nil {
		return []error{e.base, e.also}
	}
	return []error{e.base}
}

// ClientConfig tunes the read-index client.
type ClientConfig struct {
	// Timeout bounds a call when ctx has no earlier deadline.
	Timeout time.Duration
	// MaxIdle is how many idle connections are kept per leader address.
	MaxIdle int
}

// DefaultClientConfig returns the production settings. MaxIdle is sized for forwarded writes:
// each concurrent one holds a connection, and with 2 idle ones kept a burst of 64 writers
// redialled 62 connections (a TLS handshake each) per round (BenchmarkCluster3MTLS,
// on=follower/clients=64: p50 122 ms with 2 kept, 24 ms with 64, commit_timeout 5 ms).
func DefaultClientConfig() ClientConfig { return ClientConfig{Timeout: 5 * time.Second, MaxIdle: 32} }

// Validate reports the first thing wrong with c.
func (c *ClientConfig) Validate() error {
	if c.Timeout <= 0 {
		return errors.New("raftnet client config: Timeout must be positive")
	}
	if c.MaxIdle < 0 {
		return errors.New("raftnet client config: negative MaxIdle")
	}
	return nil
}

// ReadIndexClient asks the leader for its read index over the cluster port and forwards
// batches to it: a follower's raftfsm.ReadIndexer and raftfsm.Forwarder. Safe for concurrent
// use.
type ReadIndexClient struct {
	mux *clusternet.Mux
	cfg ClientConfig

	mu     sync.Mutex // guards idle and closed
	idle   map[raft.ServerAddress][]*clusternet.Conn
	closed bool
}

var _ raftfsm.ReadIndexer = (*ReadIndexClient)(nil)

// NewReadIndexClient returns a client dialing through mux.
func NewReadIndexClient(mux *clusternet.Mux, cfg ClientConfig) (*ReadIndexClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ReadIndexClient{mux: mux, cfg: cfg, idle: make(map[raft.ServerAddress][]*clusternet.Conn)}, nil
}

// ReadIndex asks the node at leader to verify its leadership and return its commit index. An
// error wrapping raftfsm.ErrNotLeader means that node is not (or no longer) the leader.
func (c *ReadIndexClient) ReadIndex(ctx context.Context, leader raft.ServerAddress) (uint64, error) {
	return readCall(ctx, c, leader, "read index from", c.call)
}

// readCall runs call, a read that may be asked twice, on a pooled or fresh connection to addr,
// within ctx or ClientConfig.Timeout when ctx has no deadline; what prefixes its errors.
func readCall[T any](ctx context.Context, c *ReadIndexClient, addr raft.ServerAddress, what string, call func(context.Context, *clusternet.Conn) (T, error)) (T, error) {
	var zero T
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	conn, reused, err := c.get(ctx, addr)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", what, addr, err)
	}
	v, err := call(ctx, conn)
	if err != nil && reused && ctx.Err() == nil && !isRemote(err) {
		// A pooled connection may have been closed by the peer's idle timeout: retry once on
		// a fresh one. The call is a read, so asking twice is harmless.
		conn.Close()
		conn, err = c.dial(ctx, addr)
		if err != nil {
			return zero, fmt.Errorf("%s %s: %w", what, addr, err)
		}
		v, err = call(ctx, conn)
	}
	if err != nil {
		if !isRemote(err) {
			conn.Close()
			return zero, fmt.Errorf("%s %s: %w", what, addr, err)
		}
		c.put(addr, conn)
		return zero, fmt.Errorf("%s %s: %w", what, addr, err)
	}
	c.put(addr, conn)
	return v, nil
}

func isRemote(err error) bool {
	var re *remoteError
	return errors.As(err, &re)
}

func (c *ReadIndexClient) call(ctx context.Context, conn *clusternet.Conn) (uint64, error) {
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte{opReadIndex}); err != nil {
		return 0, ctxErr(ctx, fmt.Errorf("send read-index call: %w", err))
	}
	idx, err := readReply(conn)
	if err != nil {
		return 0, ctxErr(ctx, err)
	}
	return idx, nil
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

func (c *ReadIndexClient) get(ctx context.Context, addr raft.ServerAddress) (*clusternet.Conn, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, clusternet.ErrClosed
	}
	if l := c.idle[addr]; len(l) > 0 {
		conn := l[len(l)-1]
		c.idle[addr] = l[:len(l)-1]
		c.mu.Unlock()
		return conn, true, nil
	}
	c.mu.Unlock()
	conn, err := c.dial(ctx, addr)
	return conn, false, err
}

func (c *ReadIndexClient) dial(ctx context.Context, addr raft.ServerAddress) (*clusternet.Conn, error) {
	return c.mux.Dial(ctx, clusternet.ProtoCall, string(addr), "")
}

func (c *ReadIndexClient) put(addr raft.ServerAddress, conn *clusternet.Conn) {
	_ = conn.SetDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.idle[addr]) >= c.cfg.MaxIdle {
		conn.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], conn)
}

// Close closes the idle connections; calls after Close fail.
func (c *ReadIndexClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for addr, l := range c.idle {
		for _, conn := range l {
			conn.Close()
		}
		delete(c.idle, addr)
	}
	return nil
}
