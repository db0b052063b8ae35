package shardnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"testing"
	"time"

	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/blobstore/shardnet"
	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/poll"
	"valise/internal/testlog"
)

const serverNode, clientNode = "node-a", "node-b"

// pair is a shard server on one cluster port and a client on another, on loopback.
type pair struct {
	ca        *clustertest.CA
	serverMux *clusternet.Mux
	clientMux *clusternet.Mux
	server    *shardnet.Server
	client    *shardnet.Client
	addr      string
	local     blobstore.Disk // the served disk, a real directory
	diskID    blobstore.DiskID
}

func newMux(t testing.TB, ca *clustertest.CA, id string) *clusternet.Mux {
	t.Helper()
	cfg := clusternet.DefaultConfig()
	cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, ca.NodeCert(t, id), ca.Pool(), "127.0.0.1:0"
	m, err := clusternet.Listen(cfg, testlog.New(t, slog.LevelWarn))
	if err != nil {
		t.Fatalf("listen %s: %v", id, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// newPair serves one directory disk, "disk-1", and returns a client of it.
func newPair(t testing.TB, scfg shardnet.ServerConfig, ccfg shardnet.ClientConfig) *pair {
	t.Helper()
	return newPairOf(t, "disk-1", scfg, ccfg)
}

// newPairOf serves one directory disk named id and returns a client of it.
func newPairOf(t testing.TB, id blobstore.DiskID, scfg shardnet.ServerConfig, ccfg shardnet.ClientConfig) *pair {
	t.Helper()
	p := &pair{ca: clustertest.NewCA(t), diskID: id}
	p.serverMux = newMux(t, p.ca, serverNode)
	p.clientMux = newMux(t, p.ca, clientNode)
	p.addr = p.serverMux.Addr().String()
	var err error
	if p.local, err = blobstore.NewDirDisk(id, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	p.server, err = shardnet.NewServer(p.serverMux, map[blobstore.DiskID]blobstore.Disk{id: p.local}, scfg, testlog.New(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.server.Close() })
	if p.client, err = shardnet.NewClient(p.clientMux, ccfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	return p
}

func (p *pair) disk() *shardnet.RemoteDisk {
	return p.client.RemoteDisk(p.addr, serverNode, p.diskID)
}

// TestRemoteDiskContract runs the Disk contract against a directory disk served over a real
// cluster port (issue 18, "the same contract suite runs against the local and the remote
// disk").
func TestRemoteDiskContract(t *testing.T) {
	blobtest.DiskContract(t, func(t *testing.T) blobstore.Disk {
		return newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig()).disk()
	})
}

// TestPeerIdentity: a client that wants node X refuses a server whose certificate names
// another node, before any request is sent.
func TestPeerIdentity(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	impostor := p.client.RemoteDisk(p.addr, "node-c", "disk-1")
	_, err := impostor.Open(t.Context(), "a/f")
	if !errors.Is(err, clusternet.ErrPeerID) {
		t.Fatalf("open through a server that is not the wanted node = %v, want ErrPeerID", err)
	}
	names, err := impostor.List(t.Context(), "a")
	if !errors.Is(err, clusternet.ErrPeerID) {
		t.Fatalf("list through a server that is not the wanted node = %q, %v; want ErrPeerID", names, err)
	}
}

// TestUnknownDisk: a node serves only its own disks; a request for another is refused with
// ErrUnknownDisk, and the connection goes on serving.
func TestUnknownDisk(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	other := p.client.RemoteDisk(p.addr, serverNode, "disk-9")
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"open", func() error { _, err := other.Open(ctx, "a/f"); return err }},
		{"create", func() error { _, err := other.Create(ctx, "a/f", true); return err }},
		{"remove", func() error { return other.Remove(ctx, "a/f") }},
		{"rename", func() error { return other.Rename(ctx, "a/f", "a/g") }},
		{"list", func() error { _, err := other.List(ctx, "a"); return err }},
		{"usage", func() error { _, _, err := other.Usage(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if !errors.Is(err, shardnet.ErrUnknownDisk) || !errors.Is(err, shardnet.ErrRemote) {
				t.Fatalf("%s on a disk the node does not hold = %v, want ErrUnknownDisk", tc.name, err)
			}
			if _, _, err := p.disk().Usage(ctx); err != nil {
				t.Fatalf("usage of the served disk after the refusal: %v", err)
			}
		})
	}
}

// TestServerStoppedMidStream: a server that stops while a file is open gives the client an
// error, not a hang; the file stays unusable, and the disk works again once a server is back.
func TestServerStoppedMidStream(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	ctx := t.Context()
	d := p.disk()
	w, err := d.Create(ctx, "s/f", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(bytes.Repeat([]byte{7}, 3<<20), 0); err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(ctx, "s/f")
	if err != nil {
		t.Fatal(err)
	}
	p.server.Close()
	done := make(chan error, 2)
	go func() { _, err := w.WriteAt(make([]byte, 2<<20), 3<<20); done <- err }()
	go func() { _, err := r.ReadAt(make([]byte, 2<<20), 0); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a call on a file whose server stopped succeeded")
			}
		case <-time.After(time.Minute): // a hang guard only
			t.Fatal("a call on a file whose server stopped hung")
		}
	}
	if err := w.Sync(); err == nil {
		t.Fatal("sync after the connection broke succeeded")
	}
	w.Close()
	r.Close()
	if _, err := d.Open(ctx, "s/f"); err == nil {
		t.Fatal("open with no server succeeded")
	}
	srv, err := shardnet.NewServer(p.serverMux, map[blobstore.DiskID]blobstore.Disk{"disk-1": p.local}, shardnet.DefaultServerConfig(), testlog.New(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f, err := d.Open(ctx, "s/f")
	if err != nil {
		t.Fatalf("open once a server is back: %v", err)
	}
	defer f.Close()
	if size, err := f.Size(); err != nil || size < 3<<20 {
		t.Fatalf("size once a server is back = %d, %v; want at least the synced-or-not 3 MiB", size, err)
	}
}

// TestDeadlines: a peer that accepts the shard protocol and never answers costs the caller its
// deadline or cancellation, never a hang.
func TestDeadlines(t *testing.T) {
	ca := clustertest.NewCA(t)
	silent := newMux(t, ca, serverNode)
	ln, err := silent.Listener(clusternet.ProtoShard)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []io.Closer
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	ccfg := shardnet.DefaultClientConfig()
	client, err := shardnet.NewClient(newMux(t, ca, clientNode), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	d := client.RemoteDisk(silent.Addr().String(), serverNode, "disk-1")

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := d.Open(ctx, "a/f"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("open on a silent peer = %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := d.List(ctx, "a"); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("list cancelled = %v, want Canceled", err)
	}
}

// TestConcurrentWriters: a burst of writers to different files through one client, each
// streaming several chunks, all read back whole.
func TestConcurrentWriters(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	d := p.disk()
	ctx := t.Context()
	const writers = 24
	data := func(i int) []byte {
		b := make([]byte, 2*shardnet.MaxChunk+1000*i+1)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			name := fmt.Sprintf("burst/%02d/f", i)
			f, err := d.Create(ctx, name, true)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if _, err := f.WriteAt(data(i), 0); err != nil {
				errs <- fmt.Errorf("write %s: %w", name, err)
				return
			}
			if err := f.Sync(); err != nil {
				errs <- fmt.Errorf("sync %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range writers {
		name := fmt.Sprintf("burst/%02d/f", i)
		f, err := p.local.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := data(i)
		got := make([]byte, len(want)+1)
		n, err := f.ReadAt(got, 0)
		f.Close()
		if n != len(want) || !errors.Is(err, io.EOF) || !bytes.Equal(got[:n], want) {
			t.Errorf("%s on the served disk: %d bytes, %v; want the %d bytes written", name, n, err, len(want))
		}
	}
}

// TestBusy: connections over the server's MaxConns are refused with ErrBusy, and served again
// once one is given back.
func TestBusy(t *testing.T) {
	scfg := shardnet.DefaultServerConfig()
	scfg.MaxConns = 1
	p := newPair(t, scfg, shardnet.DefaultClientConfig())
	d := p.disk()
	ctx := t.Context()
	f, err := d.Create(ctx, "b/f", true) // holds the only connection
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, "b/f"); !errors.Is(err, shardnet.ErrBusy) {
		t.Fatalf("open over MaxConns = %v, want ErrBusy", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := d.Open(ctx, "b/f") // reuses the connection the file gave back
	if err != nil {
		t.Fatalf("open once the connection was given back: %v", err)
	}
	g.Close()
}

// TestRemoteErrorsKeepTheirKind: an errno from the served disk travels (fs.ErrNotExist), and
// names that could escape the disk are refused before they reach it.
func TestRemoteErrorsKeepTheirKind(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	d := p.disk()
	ctx := t.Context()
	if _, err := d.Open(ctx, "no/such"); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, shardnet.ErrRemote) {
		t.Errorf("open missing = %v, want a remote fs.ErrNotExist", err)
	}
	for _, name := range []string{"../etc/passwd", "/abs", "a\\b", "", "a\x00b"} {
		if _, err := d.Create(ctx, name, true); err == nil {
			t.Errorf("create %q succeeded", name)
		}
	}
}

// TestPoolReuse: sequential calls and files reuse one pooled connection, and Close of the
// client closes it (the server sees it end).
func TestPoolReuse(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	d := p.disk()
	ctx := t.Context()
	for i := range 20 {
		if _, _, err := d.Usage(ctx); err != nil {
			t.Fatal(err)
		}
		f, err := d.Create(ctx, fmt.Sprintf("pool/%d", i), true)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if n := shardnet.OpenConns(p.server); n != 1 {
			t.Fatalf("after %d sequential calls the server serves %d connections, want the one pooled", i+1, n)
		}
	}
	if err := p.client.Close(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the server to see the pooled connection closed", func() bool { return shardnet.OpenConns(p.server) == 0 })
	if _, _, err := d.Usage(ctx); !errors.Is(err, shardnet.ErrClosed) {
		t.Fatalf("usage after the client closed = %v, want ErrClosed", err)
	}
}

// TestHints: the optional hints travel without a reply and leave the connection in step.
func TestHints(t *testing.T) {
	p := newPair(t, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	ctx := t.Context()
	f, err := p.disk().Create(ctx, "h/f", true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type hinter interface {
		WillNeed(off, n int64)
		StartWriteback(off, n int64)
	}
	h, ok := f.(hinter)
	if !ok {
		t.Fatal("a remote file does not pass the hints on")
	}
	data := bytes.Repeat([]byte("hint"), 1<<18)
	for i := range 4 {
		if _, err := f.WriteAt(data, int64(i*len(data))); err != nil {
			t.Fatal(err)
		}
		h.StartWriteback(int64(i*len(data)), int64(len(data)))
		h.WillNeed(0, int64(len(data)))
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("sync after hints: %v", err)
	}
	got := make([]byte, len(data))
	if _, err := f.ReadAt(got, int64(3*len(data))); err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(got, data) {
		t.Fatalf("read after hints: %v", err)
	}
	if size, err := f.Size(); err != nil || size != int64(4*len(data)) {
		t.Fatalf("size after hints = %d, %v", size, err)
	}
}

// BenchmarkRemoteDisk writes then reads a 64 MiB file through the remote disk, in MaxChunk
// calls, over loopback mutual TLS; compare with BenchmarkLocalDisk of the same run.
func BenchmarkRemoteDisk(b *testing.B) {
	p := newPair(b, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
	benchDisk(b, p.disk())
}

// BenchmarkLocalDisk is BenchmarkRemoteDisk on the served directory disk itself.
func BenchmarkLocalDisk(b *testing.B) {
	d, err := blobstore.NewDirDisk("disk-1", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	benchDisk(b, d)
}

func benchDisk(b *testing.B, d blobstore.Disk) {
	const size = 64 << 20
	chunk := bytes.Repeat([]byte{0x5a}, shardnet.MaxChunk)
	buf := make([]byte, shardnet.MaxChunk)
	ctx := b.Context()
	b.SetBytes(2 * size)
	for b.Loop() {
		f, err := d.Create(ctx, "bench/f", true)
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < size; off += int64(len(chunk)) {
			if _, err := f.WriteAt(chunk, off); err != nil {
				b.Fatal(err)
			}
		}
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}
