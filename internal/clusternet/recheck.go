package clusternet

import "valise/internal/logkey"

// track records c among the mux's open connections and returns it.
func (m *Mux) track(c *Conn) *Conn {
	c.mux = m
	m.mu.Lock()
	m.conns[c] = struct{}{}
	m.mu.Unlock()
	return c
}

// Close closes the connection and forgets it.
func (c *Conn) Close() error {
	if c.mux != nil {
		c.mux.mu.Lock()
		delete(c.mux.conns, c)
		c.mux.mu.Unlock()
	}
	return c.Conn.Close()
}

// Recheck asks Config.Revoked again about the peer of every connection still open, accepted
// or dialed, and closes those whose certificate it now refuses; it returns how many it
// closed. The check of the handshake covers a connection only when it opens: the node calls
// Recheck when its revocation list changes, so that a connection made before a revocation
// (a pooled Raft connection lives long) does not outlive it. Without a Revoked hook it does
// nothing.
func (m *Mux) Recheck() int {
	if m.cfg.Revoked == nil {
		return 0
	}
	m.mu.Lock()
	open := make([]*Conn, 0, len(m.conns))
	for c := range m.conns {
		open = append(open, c)
	}
	m.mu.Unlock()
	closed := 0
	for _, c := range open {
		if err := m.cfg.Revoked(c.leaf); err != nil {
			m.logger.Warn("closing a connection whose peer certificate was revoked", "peer", c.peer, logkey.Err, err)
			c.Close()
			closed++
		}
	}
	return closed
}
