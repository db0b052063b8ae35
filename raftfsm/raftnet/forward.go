package raftnet

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
	"valise/raftfsm"
)

// The propose call forwards a follower's batch to the leader. Request, after opPropose: the
// caller's time budget in milliseconds (4 bytes big-endian; the server takes the smaller of it
// and its CallTimeout), the encoded batch's length (4 bytes big-endian, 1 to
// raftfsm.MaxBatchSize) and the batch (raftfsm.EncodeBatch). Reply: one status byte, then
//
//	statusOK:        the Result: index and journal sequence, 8 bytes big-endian each
//	statusConflict:  the *raftfsm.ConflictError: cond kind (1 byte), key length (2 bytes, at
//	                 most raftfsm.MaxKeySize), key, cond version (8 bytes), version at apply
//	                 time (8 bytes)
//	statusUnknown:   a reason byte (unknownPlain, unknownLeadership, unknownDeadline), then
//	                 the error text as for statusError
//	statusNotLeader, statusInvalid, statusError: the error text (2-byte length, at most
//	                 maxErrText bytes)
//
// opPing's reply is statusOK alone: the client sends it on a pooled connection before a
// propose, so that a connection the peer has closed (its idle timeout, a restart) is found
// before the batch is sent, never after, where it would make the outcome unknown.
const (
	opPropose byte = 2
	opPing    byte = 3

	statusUnknown  byte = 3
	statusInvalid  byte = 4
	statusConflict byte = 5

	unknownPlain      byte = 0
	unknownLeadership byte = 1 // the leader lost its leadership or stopped: retry elsewhere
	unknownDeadline   byte = 2 // the time budget ran out on the leader
)

// ProposeSource answers propose calls: the local Store, whose ProposeLocal never forwards
// again, so that a batch travels one hop at most.
type ProposeSource interface {
	ProposeLocal(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error)
}

var _ ProposeSource = (*raftfsm.Store)(nil)

// readProposeRequest decodes a propose request after its op byte: the time budget and the
// batch. It reads at most the request's declared length, which it bounds before reading.
func readProposeRequest(r io.Reader) (time.Duration, raftfsm.Batch, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, raftfsm.Batch{}, fmt.Errorf("read propose header: %w", err)
	}
	budget := time.Duration(binary.BigEndian.Uint32(hdr[:4])) * time.Millisecond
	n := binary.BigEndian.Uint32(hdr[4:])
	if n == 0 || n > raftfsm.MaxBatchSize {
		return 0, raftfsm.Batch{}, fmt.Errorf("%w: batch of %d bytes, 1 to %d", ErrCall, n, raftfsm.MaxBatchSize)
	}
	// Read through a limit rather than allocate n at once: a peer that declares 16 MiB and
	// sends less costs what it sent.
	data, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return 0, raftfsm.Batch{}, fmt.Errorf("read propose batch: %w", err)
	}
	if len(data) != int(n) {
		return 0, raftfsm.Batch{}, fmt.Errorf("read propose batch: %d of %d bytes: %w", len(data), n, io.ErrUnexpectedEOF)
	}
	b, err := raftfsm.DecodeBatch(data)
	if err != nil {
		return 0, raftfsm.Batch{}, fmt.Errorf("%w: %w", raftfsm.ErrInvalidBatch, err)
	}
	return budget, b, nil
}

// handlePropose reads a propose request from r and returns the reply and whether the
// connection may carry another call (not after a request it could not read whole).
func (s *ReadIndexServer) handlePropose(ctx context.Context, r *bufio.Reader) ([]byte, bool) {
	p, ok := s.src.(ProposeSource)
	if !ok {
		return errorReply(statusError, "propose calls are not served here"), false
	}
	budget, b, err := readProposeRequest(r)
	if err != nil {
		if errors.Is(err, raftfsm.ErrInvalidBatch) {
			return errorReply(statusInvalid, err.Error()), true // read whole, just not valid
		}
		return errorReply(statusError, err.Error()), false
	}
	timeout := s.cfg.CallTimeout
	if budget > 0 && budget < timeout {
		timeout = budget
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := p.ProposeLocal(ctx, b)
	return proposeReply(res, err), true
}

// proposeReply encodes the leader's answer to a propose call.
func proposeReply(res raftfsm.Result, err error) []byte {
	var ce *raftfsm.ConflictError
	switch {
	case err == nil:
		out := binary.BigEndian.AppendUint64([]byte{statusOK}, res.Index)
		return binary.BigEndian.AppendUint64(out, res.JournalSeq)
	case errors.As(err, &ce) && len(ce.Cond.Key) <= raftfsm.MaxKeySize:
		out := []byte{statusConflict, byte(ce.Cond.Kind)}
		out = binary.BigEndian.AppendUint16(out, uint16(len(ce.Cond.Key)))
		out = append(out, ce.Cond.Key...)
		out = binary.BigEndian.AppendUint64(out, ce.Cond.Version)
		return binary.BigEndian.AppendUint64(out, ce.Version)
	case errors.Is(err, raftfsm.ErrOutcomeUnknown):
		reason := unknownPlain
		switch {
		case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrClosed):
			reason = unknownLeadership
		case errors.Is(err, context.DeadlineExceeded):
			reason = unknownDeadline
		}
		return append([]byte{statusUnknown, reason}, errorReply(statusUnknown, err.Error())[1:]...)
	case errors.Is(err, raftfsm.ErrInvalidBatch):
		return errorReply(statusInvalid, err.Error())
	case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrClosed),
		errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		// Not proposed: a closing store no longer leads either.
		return errorReply(statusNotLeader, err.Error())
	default:
		return errorReply(statusError, err.Error())
	}
}

// readProposeReply decodes one reply to opPropose from r. A remote failure comes back as the
// leader's Propose gives it: a *raftfsm.ConflictError, or an error wrapping ErrNotLeader,
// ErrInvalidBatch or ErrOutcomeUnknown.
func readProposeReply(r io.Reader) (raftfsm.Result, error) {
	var st [1]byte
	if _, err := io.ReadFull(r, st[:]); err != nil {
		return raftfsm.Result{}, fmt.Errorf("read reply status: %w", err)
	}
	switch st[0] {
	case statusOK:
		var b [16]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return raftfsm.Result{}, fmt.Errorf("read reply result: %w", err)
		}
		return raftfsm.Result{Index: binary.BigEndian.Uint64(b[:8]), JournalSeq: binary.BigEndian.Uint64(b[8:])}, nil
	case statusConflict:
		var h [3]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return raftfsm.Result{}, fmt.Errorf("read reply conflict: %w", err)
		}
		n := binary.BigEndian.Uint16(h[1:])
		if n > raftfsm.MaxKeySize {
			return raftfsm.Result{}, fmt.Errorf("%w: conflict key of %d bytes", ErrCall, n)
		}
		rest := make([]byte, int(n)+16)
		if _, err := io.ReadFull(r, rest); err != nil {
			return raftfsm.Result{}, fmt.Errorf("read reply conflict: %w", err)
		}
		return raftfsm.Result{}, &raftfsm.ConflictError{
			Cond: raftfsm.Cond{
				Kind:    raftfsm.CondKind(h[0]),
				Key:     rest[:n:n],
				Version: binary.BigEndian.Uint64(rest[n : n+8]),
			},
			Version: binary.BigEndian.Uint64(rest[n+8:]),
		}
	case statusUnknown:
		var reason [1]byte
		if _, err := io.ReadFull(r, reason[:]); err != nil {
			return raftfsm.Result{}, fmt.Errorf("read reply reason: %w", err)
		}
		text, err := readErrText(r)
		if err != nil {
			return raftfsm.Result{}, err
		}
		e := &remoteError{base: raftfsm.ErrOutcomeUnknown, text: text}
		switch reason[0] {
		case unknownLeadership:
			e.also = raftfsm.ErrNotLeader
		case unknownDeadline:
			e.also = context.DeadlineExceeded
		}
		return raftfsm.Result{}, e
	case statusNotLeader, statusInvalid, statusError:
		text, err := readErrText(r)
		if err != nil {
			return raftfsm.Result{}, err
		}
		base := ErrCall
		switch st[0] {
		case statusNotLeader:
			base = raftfsm.ErrNotLeader
		case statusInvalid:
			base = raftfsm.ErrInvalidBatch
		}
		return raftfsm.Result{}, &remoteError{base: base, text: text}
	default:
		return raftfsm.Result{}, fmt.Errorf("%w: unknown reply status %d", ErrCall, st[0])
	}
}

// readErrText reads an error reply's text: a 2-byte length, at most maxErrText, and the bytes.
func readErrText(r io.Reader) (string, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "", fmt.Errorf("read reply error length: %w", err)
	}
	n := binary.BigEndian.Uint16(l[:])
	if n > maxErrText {
		return "", fmt.Errorf("%w: error text of %d bytes", ErrCall, n)
	}
	text := make([]byte, n)
	if _, err := io.ReadFull(r, text); err != nil {
		return "", fmt.Errorf("read reply error text: %w", err)
	}
	return string(text), nil
}

var _ raftfsm.Forwarder = (*ReadIndexClient)(nil)

// Forward sends an encoded batch to the leader at addr, which proposes it (its
// Store.ProposeLocal), and returns the leader's answer: raftfsm.Forwarder. Nothing is sent for
// a batch larger than raftfsm.MaxBatchSize (ErrInvalidBatch). A leader that cannot be reached
// gives an error wrapping raftfsm.ErrNoLeader, nothing sent; a connection that breaks or a
// deadline that passes after the batch was sent gives one wrapping raftfsm.ErrOutcomeUnknown
// (and ErrNoLeader, or the context's error), since the leader may have committed it. A batch
// is sent once: Forward never retries after sending.
func (c *ReadIndexClient) Forward(ctx context.Context, leader raft.ServerAddress, batch []byte) (raftfsm.Result, error) {
	if len(batch) == 0 || len(batch) > raftfsm.MaxBatchSize {
		return raftfsm.Result{}, fmt.Errorf("forward to %s: %w: %d bytes encoded, 1 to %d", leader, raftfsm.ErrInvalidBatch, len(batch), raftfsm.MaxBatchSize)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	conn, reused, err := c.get(ctx, leader)
	if err == nil && reused {
		if err = c.ping(ctx, conn); err != nil {
			conn.Close() // closed by the peer meanwhile: nothing sent yet, so a fresh one
			conn, err = c.dial(ctx, leader)
		}
	}
	if err != nil {
		return raftfsm.Result{}, ctxErr(ctx, fmt.Errorf("forward to %s: leader unreachable: %w: %w", leader, raftfsm.ErrNoLeader, err))
	}
	res, sent, err := c.propose(ctx, conn, batch)
	switch {
	case err == nil:
		c.put(leader, conn)
		return res, nil
	case isRemote(err) || isConflict(err):
		c.put(leader, conn)
		return raftfsm.Result{}, err
	case !sent:
		conn.Close()
		return raftfsm.Result{}, ctxErr(ctx, fmt.Errorf("forward to %s: not sent: %w: %w", leader, raftfsm.ErrNoLeader, err))
	default:
		conn.Close()
		if ctx.Err() != nil {
			return raftfsm.Result{}, ctxErr(ctx, fmt.Errorf("forward to %s: %w: %w", leader, raftfsm.ErrOutcomeUnknown, err))
		}
		return raftfsm.Result{}, ctxErr(ctx, fmt.Errorf("forward to %s: connection to the leader lost after sending: %w: %w: %w", leader, raftfsm.ErrOutcomeUnknown, raftfsm.ErrNoLeader, err))
	}
}

func isConflict(err error) bool {
	var ce *raftfsm.ConflictError
	return errors.As(err, &ce)
}

// propose runs one propose call on conn; sent says whether the whole request went out (the
// leader cannot have proposed a request it did not receive whole).
func (c *ReadIndexClient) propose(ctx context.Context, conn *clusternet.Conn, batch []byte) (raftfsm.Result, bool, error) {
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ms := time.Until(dl).Milliseconds()
	if ms <= 0 {
		return raftfsm.Result{}, false, context.DeadlineExceeded
	}
	hdr := make([]byte, 9, 9+len(batch))
	hdr[0] = opPropose
	binary.BigEndian.PutUint32(hdr[1:5], uint32(min(ms, math.MaxUint32)))
	binary.BigEndian.PutUint32(hdr[5:9], uint32(len(batch)))
	if _, err := conn.Write(append(hdr, batch...)); err != nil {
		return raftfsm.Result{}, false, fmt.Errorf("send propose call: %w", err)
	}
	res, err := readProposeReply(conn)
	return res, true, err
}

// ping checks that a pooled connection still answers, before anything that matters is sent.
func (c *ReadIndexClient) ping(ctx context.Context, conn *clusternet.Conn) error {
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte{opPing}); err != nil {
		return fmt.Errorf("send ping: %w", err)
	}
	var st [1]byte
	if _, err := io.ReadFull(conn, st[:]); err != nil {
		return fmt.Errorf("read ping reply: %w", err)
	}
	if st[0] != statusOK {
		return fmt.Errorf("%w: ping answered with status %d", ErrCall, st[0])
	}
	return nil
}
