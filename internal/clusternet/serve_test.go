package clusternet

import (
	"context"
	"net"
	"testing"

	"valise/internal/poll"
)

// TestConnServer: each connection gets its handler; past max, refuse; Close cancels the
// handlers' context, closes their connections and waits for them.
func TestConnServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handled, refused, ended := make(chan struct{}, 4), make(chan struct{}, 4), make(chan error, 4)
	s := Serve(ln, 2, func(ctx context.Context, c net.Conn) {
		handled <- struct{}{}
		<-ctx.Done()
		_, err := c.Read(make([]byte, 1))
		ended <- err
	}, func(c net.Conn) { refused <- struct{}{} })
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	<-handled
	<-handled
	<-refused
	poll.Until(t, "the refused connection forgotten", func() bool { return s.Open() == 2 })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		if err := <-ended; err == nil {
			t.Fatal("a handler's connection still open after Close")
		}
	}
	if n := s.Open(); n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
	if _, err := clients[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("a client's connection still open after Close")
	}
}
