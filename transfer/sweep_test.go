package transfer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"valise/raftfsm"
)

// orderBlobs records the order of retention steps and fails the first DeleteFile: it checks,
// when asked to delete shards, that the file's key is already gone from the metadata.
type orderBlobs struct {
	Blobs
	t    *testing.T
	meta *raftfsm.Store

	mu     sync.Mutex // guards events and failed
	events []string
	failed bool
}

func (b *orderBlobs) DeleteFile(ctx context.Context, shredded []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The key must be destroyed first: no file record may remain, and every remaining
	// record's value must be free of manifests with keys (the tombstone holds a key-less one).
	err := b.meta.Scan([]byte(prefixFile), func(it raftfsm.Item) error {
		b.events = append(b.events, "file record still present: "+string(it.Key))
		return nil
	})
	if err != nil {
		b.t.Error(err)
	}
	if !b.failed {
		b.failed = true
		b.events = append(b.events, "delete shards: fail")
		return errors.New("disk busy (injected)")
	}
	b.events = append(b.events, "delete shards")
	return b.Blobs.DeleteFile(ctx, shredded)
}

// Sweep destroys the key first (the file record with its manifest), then the shards; a
// failure between the two leaves a tombstone that the next sweep finishes.
func TestSweepShredsKeyBeforeShards(t *testing.T) {
	var ob *orderBlobs
	e := newEnv(t, func(_ *Config, d *Deps) {
		ob = &orderBlobs{Blobs: d.Blobs, t: t}
		d.Blobs = ob
	})
	ob.meta = e.meta
	f := e.upload("u1", "a.bin", randomData(900, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{})
	if err := e.svc.Revoke(e.ctx, "u1", c.Send.ID); err != nil {
		t.Fatal(err)
	}
	if countFiles(t, e.dirs, f.ID) == 0 {
		t.Fatal("no shard on disk")
	}

	rep, err := e.svc.Sweep(e.ctx)
	if err == nil || rep.FilesShredded != 1 || rep.ShardsDeleted != 0 {
		t.Fatalf("first sweep = %+v, %v; want the key destroyed and the shard deletion failed", rep, err)
	}
	if _, err := e.meta.Get(fileKey(f.ID)); !errors.Is(err, raftfsm.ErrNotFound) {
		t.Fatalf("file record after shredding: %v", err)
	}
	if _, err := e.meta.Get(tombKey(f.ID)); err != nil {
		t.Fatalf("no tombstone after a failed shard deletion: %v", err)
	}
	if countFiles(t, e.dirs, f.ID) == 0 {
		t.Fatal("shards gone although the deletion failed")
	}

	rep, err = e.svc.Sweep(e.ctx)
	if err != nil || rep.ShardsDeleted != 1 || rep.FilesShredded != 0 {
		t.Fatalf("second sweep = %+v, %v", rep, err)
	}
	if n := countFiles(t, e.dirs, f.ID); n != 0 {
		t.Fatalf("%d shard files left", n)
	}
	if _, err := e.meta.Get(tombKey(f.ID)); !errors.Is(err, raftfsm.ErrNotFound) {
		t.Fatalf("tombstone after the rerun: %v", err)
	}
	if want := []string{"delete shards: fail", "delete shards"}; !slices.Equal(ob.events, want) {
		t.Fatalf("events = %q, want %q", ob.events, want)
	}

	// The journal tells the story in order: revoke, shred, delete.
	var actions []string
	e.meta.Journal(1, func(en raftfsm.Entry) error {
		if en.Target == string(f.ID) || en.Target == string(c.Send.ID) {
			actions = append(actions, en.Action)
		}
		return nil
	})
	want := []string{"upload.create", "upload.progress", "upload.complete", "send.create", "send.revoke", "file.shred", "file.delete"}
	if !slices.Equal(actions, want) {
		t.Fatalf("journal = %q, want %q", actions, want)
	}

	// Idempotent: nothing left to do.
	if rep, err := e.svc.Sweep(e.ctx); err != nil || rep != (SweepReport{}) {
		t.Fatalf("third sweep = %+v, %v", rep, err)
	}
}

// Retention keeps a file while one send carrying it is active, and an unsent file for the
// policy's retention.
func TestSweepRetention(t *testing.T) {
	e := newEnv(t)
	shared := e.upload("u1", "shared.bin", randomData(300, 1), VerdictClean)
	unsent := e.upload("u1", "unsent.bin", randomData(300, 2), VerdictClean)
	infected := e.upload("u1", "eicar.com", randomData(300, 3), VerdictInfected)
	short := e.send("u1", []File{shared}, []string{"bob@example.org"}, Options{Expiry: time.Hour})
	e.send("u1", []File{shared}, []string{"carol@example.org"}, Options{Expiry: 48 * time.Hour})

	e.clock.Advance(2 * time.Hour)
	rep, err := e.svc.Sweep(e.ctx)
	if err != nil || rep.LinksClosed != 1 || rep.FilesShredded != 0 {
		t.Fatalf("sweep after the first expiry = %+v, %v", rep, err)
	}
	if _, err := e.svc.OpenLink(e.ctx, short.Invitations[0].Token, "", "192.0.2.1"); err != ErrLinkNotFound {
		t.Fatalf("expired link: %v", err)
	}
	if _, err := e.svc.GetFile(e.ctx, "u1", shared.ID); err != nil {
		t.Fatalf("a file an active send carries was destroyed: %v", err)
	}

	e.clock.Advance(47 * time.Hour)
	rep, err = e.svc.Sweep(e.ctx)
	if err != nil || rep.LinksClosed != 1 || rep.FilesShredded != 1 {
		t.Fatalf("sweep after both expiries = %+v, %v", rep, err)
	}
	for _, f := range []File{unsent, infected} {
		if _, err := e.svc.GetFile(e.ctx, "u1", f.ID); err != nil {
			t.Fatalf("%s destroyed before its retention: %v", f.Name, err)
		}
	}
	e.clock.Advance(7 * 24 * time.Hour)
	rep, err = e.svc.Sweep(e.ctx)
	if err != nil || rep.FilesShredded != 2 {
		t.Fatalf("sweep after the unsent retention = %+v, %v", rep, err)
	}
	if u, _ := e.svc.Usage(e.ctx, "u1"); u != 0 {
		t.Fatalf("usage = %d", u)
	}
}

// The Job sweeps on Trigger and stops cleanly.
func TestJobTriggerAndStop(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.SweepInterval = time.Hour })
	f := e.upload("u1", "a.bin", randomData(300, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{DeleteAfterDownload: true})
	job := NewJob(e.svc)
	job.Start(e.ctx)
	defer job.Stop()
	out := e.download(c.Invitations[0].Token, "", f, true)
	if !out.SendFinished {
		t.Fatal("send not finished")
	}
	job.Trigger()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := e.svc.GetFile(e.ctx, "u1", f.ID); errors.Is(err, ErrFileNotFound) && countFiles(t, e.dirs, f.ID) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the triggered sweep did not destroy the file")
		}
		<-tick.C
	}
	job.Stop()
	job.Stop() // twice is fine
}
