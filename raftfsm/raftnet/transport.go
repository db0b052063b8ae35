// Package raftnet carries Raft and the node-to-node calls Raft needs over the cluster port
// (package clusternet): a raft.StreamLayer on protocol 'R' wrapped in hashicorp/raft's
// NetworkTransport, and the read-index call on protocol 'C' that lets a follower serve a
// linearizable read.
//
// Raft dials by address: the stream layer accepts any member of the cluster CA at that
// address (the ID is checked by Raft's own RPC headers and configuration, not here); the
// read-index client likewise trusts any member, since only a node that has just verified its
// own leadership answers with an index.
package raftnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"valise/internal/clusternet"
)

// TransportConfig tunes the Raft transport.
type TransportConfig struct {
	// Advertise is the address peers reach this node at, as written in the Raft configuration
	// ("10.0.0.5:8444"). Empty means the mux's bound address.
	Advertise raft.ServerAddress
	// MaxPool is how many idle connections are kept per peer.
	MaxPool int
	// Timeout bounds each RPC's I/O (InstallSnapshot scales it by size) and each dial.
	Timeout time.Duration
}

// DefaultTransportConfig returns the production settings.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{MaxPool: 3, Timeout: 10 * time.Second}
}

// Validate reports the first thing wrong with c.
func (c *TransportConfig) Validate() error {
	if c.MaxPool < 1 {
		return errors.New("raft transport config: MaxPool must be at least 1")
	}
	if c.Timeout <= 0 {
		return errors.New("raft transport config: Timeout must be positive")
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(string(c.Advertise)); err != nil {
			return fmt.Errorf("raft transport config: advertise address %q: %w", c.Advertise, err)
		}
	}
	return nil
}

// Transport is hashicorp/raft's NetworkTransport over the cluster port, with the heartbeat
// fast path turned off: SetHeartbeatHandler is a no-op, so heartbeats go through Raft's main
// loop like every other AppendEntries. (The fast path runs appendEntries on the connection's
// goroutine although it is documented main-thread only: docs/dependencies.md, trap 2b,
// hashicorp/raft#695.) Close closes the transport and its stream listener, not the mux.
type Transport struct {
	*raft.NetworkTransport
}

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
)

// SetHeartbeatHandler does nothing: see Transport.
func (t *Transport) SetHeartbeatHandler(func(raft.RPC)) {}

// NewTransport returns a Raft transport on mux's protocol ProtoRaft.
func NewTransport(mux *clusternet.Mux, cfg TransportConfig, logger *slog.Logger) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger = logger.With("component", "raftnet")
	stream, err := NewStreamLayer(mux, cfg.Advertise)
	if err != nil {
		return nil, err
	}
	nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: cfg.MaxPool,
		Timeout: cfg.Timeout,
		Logger:  newHCLogger(logger, "raft-net"),
	})
	return &Transport{NetworkTransport: nt}, nil
}

// StreamLayer is a raft.StreamLayer over a cluster port's ProtoRaft connections.
type StreamLayer struct {
	mux       *clusternet.Mux
	ln        net.Listener
	advertise advertiseAddr
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers the Raft protocol on mux. advertise, when not empty, is what Addr
// reports (and so what Raft calls this node's address).
func NewStreamLayer(mux *clusternet.Mux, advertise raft.ServerAddress) (*StreamLayer, error) {
	ln, err := mux.Listener(clusternet.ProtoRaft)
	if err != nil {
		return nil, fmt.Errorf("raft stream layer: %w", err)
	}
	if advertise == "" {
		advertise = raft.ServerAddress(mux.Addr().String())
	}
	return &StreamLayer{mux: mux, ln: ln, advertise: advertiseAddr(advertise)}, nil
}

// Accept returns the next incoming Raft connection from a verified cluster member.
func (s *StreamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }

// Close stops accepting Raft connections; the mux stays open.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial opens a Raft connection to the cluster member at address.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.mux.Dial(ctx, clusternet.ProtoRaft, string(address), "")
	if err != nil {
		return nil, err
	}
	return c, nil
}

// advertiseAddr is a net.Addr whose String is the advertised address.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "tcp" }
func (a advertiseAddr) String() string  { return string(a) }
