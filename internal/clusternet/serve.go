package clusternet

import (
	"context"
	"net"
	"sync"
)

// ConnServer runs one goroutine per connection accepted on a protocol listener (Mux.Listener),
// keeps the connections so that Close can end them, and waits for its goroutines on Close: the
// serving loop of every protocol on the cluster port (raftnet's calls, blobstore's shards).
type ConnServer struct {
	ln     net.Listener
	max    int
	handle func(ctx context.Context, c net.Conn)
	refuse func(c net.Conn)
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and the connection goroutines

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

// Serve accepts connections on ln until Close and calls handle for each on its own
// goroutine, with a context that Close cancels; the connection is closed when handle returns.
// With max > 0, a connection accepted while max are open goes to refuse instead (which may
// answer why before it is closed). handle and refuse run concurrently.
func Serve(ln net.Listener, max int, handle func(ctx context.Context, c net.Conn), refuse func(c net.Conn)) *ConnServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &ConnServer{ln: ln, max: max, handle: handle, refuse: refuse, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Close stops accepting, cancels the handlers' context, closes every open connection and
// waits for the handlers to return. It returns the listener's Close error.
func (s *ConnServer) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *ConnServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		busy := s.max > 0 && len(s.conns) >= s.max
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.run(c, busy)
	}
}

// run serves or refuses c, then forgets and closes it.
func (s *ConnServer) run(c net.Conn, busy bool) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if busy {
		if s.refuse != nil {
			s.refuse(c)
		}
		return
	}
	s.handle(s.ctx, c)
}

// Open returns how many connections s is serving or refusing now.
func (s *ConnServer) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
