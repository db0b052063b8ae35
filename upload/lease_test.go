package upload

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"valise/blobstore"
	"valise/internal/poll"
	"valise/transfer"
)

// leaseTTL is the lease of the tests' nodes: long in real time, so that no renewal runs on
// its own, and expired at once by moving the test's clock (a holder killed -9 renews nothing).
const leaseTTL = time.Hour

// nodes returns n Pipelines named node-0… over the env's Raft store and disks, each with its
// own blobstore instance, as n nodes of a cluster sharing the shards' disks.
func (u *uenv) nodes(n int) []*Pipeline {
	u.t.Helper()
	ps := make([]*Pipeline, n)
	for i := range ps {
		ps[i] = u.newUploader(u.svc, openBlobstore(u.t, u.dirs), func(c *Config) {
			c.Node, c.LeaseTTL = fmt.Sprintf("node-%d", i), leaseTTL
		})
	}
	return ps
}

// gatedChunk is a chunk whose first Read waits for release: a Write that took the lease and
// is streaming.
func gatedChunk(data []byte, release chan struct{}) *testChunk {
	c := newChunk(data).withSum(sum256(data))
	c.inRead, c.release = make(chan struct{}), release
	return c
}

// checkGenerations fails unless the manifest's generation ranges use every generation once,
// growing (issue 18: a resume on another node never reuses a nonce).
func checkGenerations(t *testing.T, m blobstore.Manifest, atLeast int) {
	t.Helper()
	if len(m.Generations) < atLeast {
		t.Fatalf("generation ranges %v: want at least %d (one per writer)", m.Generations, atLeast)
	}
	for i := 1; i < len(m.Generations); i++ {
		if m.Generations[i].Gen <= m.Generations[i-1].Gen || m.Generations[i].FirstStripe <= m.Generations[i-1].FirstStripe {
			t.Fatalf("generation ranges %v: a generation used twice or going back", m.Generations)
		}
	}
}

// TestLeaseBurstOneWriter: N nodes resume the same upload at once (a burst of PATCHes at one
// offset on N nodes): exactly one takes the upload's lease and writes, the others get
// transfer.ErrLocked (tus 423, retried by clients) without reading their chunk. The winner is
// then killed (it stops, holding its lease): another node is refused until the lease expires,
// then takes the upload over at a higher generation and finishes it bit-exact.
func TestLeaseBurstOneWriter(t *testing.T) {
	const n = 6
	u := newUEnv(t, nil, func(c *Config) { c.LeaseTTL = leaseTTL })
	data := randomData(6000, 41)
	id := u.create(len(data))
	u.write(u.up, id, 0, data[:1000])
	u.up.Close() // the first node's writer closes: its lease is released
	nodes := u.nodes(n)

	release := make(chan struct{})
	type result struct {
		node int
		off  int64
		err  error
	}
	results := make(chan result, n)
	for i, p := range nodes {
		c := gatedChunk(data[1000:3000], release)
		go func() {
			off, err := p.Write(u.ctx, owner, id, 1000, c)
			results <- result{i, off, err}
		}()
	}
	hang := time.NewTimer(poll.HangGuard)
	defer hang.Stop()
	refused := map[int]bool{}
	for range n - 1 {
		select {
		case r := <-results:
			if !errors.Is(r.err, transfer.ErrLocked) || r.off != 1000 {
				t.Fatalf("node %d: Write = %d, %v; want 1000 and ErrLocked while another node writes", r.node, r.off, r.err)
			}
			refused[r.node] = true
		case <-hang.C:
			t.Fatal("the burst's refused Writes did not return")
		}
	}
	close(release)
	var won result
	select {
	case won = <-results:
	case <-hang.C:
		t.Fatal("the lease holder's Write did not return")
	}
	if won.err != nil || won.off != 3000 || refused[won.node] {
		t.Fatalf("node %d: Write = %d, %v; want 3000", won.node, won.off, won.err)
	}
	l, err := u.svc.GetLease(id)
	if err != nil || l.Holder != fmt.Sprintf("node-%d", won.node) {
		t.Fatalf("lease %+v, %v: want held by node-%d", l, err, won.node)
	}

	// The holder is killed -9: its lease stays until it expires.
	other := nodes[(won.node+1)%n]
	if _, err := other.Write(u.ctx, owner, id, 3000, newChunk(data[3000:])); !errors.Is(err, transfer.ErrLocked) {
		t.Fatalf("Write on another node while the killed holder's lease is live = %v, want ErrLocked", err)
	}
	u.clock.Advance(leaseTTL + time.Second)
	u.write(other, id, 3000, data[3000:4500])
	taken, err := u.svc.GetLease(id)
	if err != nil || taken.Holder != fmt.Sprintf("node-%d", (won.node+1)%n) || taken.Gen <= l.Gen || taken.Epoch <= l.Epoch {
		t.Fatalf("lease after the takeover %+v, %v: want another holder, a higher generation than %d", taken, err, l.Gen)
	}
	// The old holder comes back: its writer, kept open, is no longer the upload's.
	if _, err := nodes[won.node].Write(u.ctx, owner, id, 4500, newChunk(data[4500:])); !errors.Is(err, transfer.ErrLocked) {
		t.Fatalf("Write by the holder whose lease was taken over = %v, want ErrLocked", err)
	}
	u.write(other, id, 4500, data[4500:])
	u.up = other
	_, m := u.file(id, data)
	checkGenerations(t, m, 3)
	if l, err := u.svc.GetLease(id); err != nil || l.Epoch != 0 {
		t.Fatalf("lease left after completion: %+v, %v", l, err)
	}
}

// TestLeasePausedHolderFenced: a holder pauses mid-PATCH (a process stopped, a long GC) past
// its lease; another node takes the upload over and writes. When the paused holder wakes up
// and streams on, the shard files refuse its stripes (blobstore's generation fence) and its
// record is refused (the lease fence): its Write fails, and the upload finishes bit-exact on
// the new holder.
func TestLeasePausedHolderFenced(t *testing.T) {
	u := newUEnv(t, nil, func(c *Config) { c.LeaseTTL = leaseTTL })
	data := randomData(8000, 43)
	id := u.create(len(data))
	u.write(u.up, id, 0, data[:1000])
	nodes := u.nodes(1)

	release := make(chan struct{})
	paused := newChunk(randomData(3000, 44)) // no checksum: the stream's own error shows
	paused.inRead, paused.release = make(chan struct{}), release
	entered := paused.inRead
	type result struct {
		off int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		off, err := u.up.Write(u.ctx, owner, id, 1000, paused)
		done <- result{off, err}
	}()
	<-entered
	if _, err := nodes[0].Write(u.ctx, owner, id, 1000, newChunk(data[1000:2000])); !errors.Is(err, transfer.ErrLocked) {
		t.Fatalf("Write while the holder streams = %v, want ErrLocked", err)
	}
	u.clock.Advance(leaseTTL + time.Second)
	u.write(nodes[0], id, 1000, data[1000:5000])

	close(release) // the paused holder streams on
	r := <-done
	if r.err == nil || r.off != 1000 {
		t.Fatalf("the paused holder's Write = %d, %v; want refused at 1000", r.off, r.err)
	}
	if !errors.Is(r.err, blobstore.ErrStaleGeneration) {
		t.Fatalf("the paused holder's Write = %v, want its stripes refused by the shard files", r.err)
	}
	if got := u.offset(id); got != 5000 {
		t.Fatalf("offset %d after the paused holder's attempt, want 5000", got)
	}
	u.write(nodes[0], id, 5000, data[5000:])
	u.up = nodes[0]
	_, m := u.file(id, data)
	checkGenerations(t, m, 2)
}
