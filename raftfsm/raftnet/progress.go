package raftnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
	"valise/raftfsm"
)

// opProgress asks a node, leader or not, how far its log and state are, so that the leader
// can tell whether a member has caught up and whether it answers at all (issue 18: the voter
// policy, status). Reply: statusOK, the last log index, then the applied index (8 bytes
// big-endian each), the first as opReadIndex gives its index; or an error as for opReadIndex.
const opProgress byte = 4

// ProgressSource answers progress calls: the local Store. A server whose source is not one
// answers them with an error.
type ProgressSource interface {
	// Progress returns the node's progress. It must not block: it is called from the
	// server's connection goroutines.
	Progress() raftfsm.Progress
}

var _ ProgressSource = (*raftfsm.Store)(nil)

// handleProgress returns the reply to a progress call.
func (s *ReadIndexServer) handleProgress() []byte {
	p, ok := s.src.(ProgressSource)
	if !ok {
		return errorReply(statusError, "progress calls are not served here")
	}
	pr := p.Progress()
	out := binary.BigEndian.AppendUint64([]byte{statusOK}, pr.LastIndex)
	return binary.BigEndian.AppendUint64(out, pr.Applied)
}

// Progress asks the node at addr for its progress. It is a read: a pooled connection found
// closed is retried once on a fresh one. Bounded by ctx, or ClientConfig.Timeout when ctx has
// no deadline; the caller keeps it short to tell a node that answers from one that does not.
func (c *ReadIndexClient) Progress(ctx context.Context, addr raft.ServerAddress) (raftfsm.Progress, error) {
	return readCall(ctx, c, addr, "progress of", c.progress)
}

// progress runs one progress call on conn.
func (c *ReadIndexClient) progress(ctx context.Context, conn *clusternet.Conn) (raftfsm.Progress, error) {
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte{opProgress}); err != nil {
		return raftfsm.Progress{}, ctxErr(ctx, fmt.Errorf("send progress call: %w", err))
	}
	last, err := readReply(conn)
	if err != nil {
		return raftfsm.Progress{}, ctxErr(ctx, err)
	}
	var b [8]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return raftfsm.Progress{}, ctxErr(ctx, fmt.Errorf("read progress reply: %w", err))
	}
	return raftfsm.Progress{LastIndex: last, Applied: binary.BigEndian.Uint64(b[:])}, nil
}
