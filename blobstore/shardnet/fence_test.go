package shardnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
	"valise/blobstore/shardnet"
)

// TestStaleGenerationRefusedRemotely: a writer on another node (a Store over remote disks)
// that lost its upload to a newer writer (a Resume at a claimed generation on the disks' own
// node) has every piece it sends refused by the shard server's disk: the error crosses the wire
// as blobstore.ErrStaleGeneration, the stale writer fails, and the newer writer's file reads
// back bit-exact through the remote disks (issue 18: "shard servers refuse a write of an older
// generation").
func TestStaleGenerationRefusedRemotely(t *testing.T) {
	ctx := t.Context()
	remote := map[blobstore.DiskID]blobstore.Disk{}
	local := map[blobstore.DiskID]blobstore.Disk{}
	for i := range 3 {
		id := blobstore.DiskID(fmt.Sprintf("disk-%d", i+1))
		p := newPairOf(t, id, shardnet.DefaultServerConfig(), shardnet.DefaultClientConfig())
		remote[id], local[id] = p.disk(), p.local
	}
	keys := blobtest.NewKeyWrapper()
	open := func(disks map[blobstore.DiskID]blobstore.Disk) *blobstore.Store {
		cfg := blobstore.DefaultConfig()
		cfg.BlockSize, cfg.Layout, cfg.MinFreeBytes, cfg.Workers = 256, "2+1", 0, 2
		s, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, keys, blobtest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	far, near := open(remote), open(local)
	data := bytes.Repeat([]byte("valise fenced shard "), 200)
	const id = blobstore.FileID("remote-fenced")

	stale, err := far.Create(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	st, err := stale.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := near.Resume(ctx, st, blobstore.AtLeastGeneration(4))
	if err != nil {
		t.Fatal(err)
	}

	_, err = stale.Write(bytes.Repeat([]byte{0xee}, 2000))
	if err == nil {
		_, err = stale.Checkpoint(ctx)
	}
	if !errors.Is(err, blobstore.ErrStaleGeneration) || !errors.Is(err, shardnet.ErrRemote) {
		t.Fatalf("stale remote writer's write = %v, want a remote ErrStaleGeneration", err)
	}
	stale.Close()

	if _, err := newer.Write(data[st.Offset:]); err != nil {
		t.Fatal(err)
	}
	m, err := newer.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := far.Get(ctx, m, &got, 0, -1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("file read through the remote disks differs")
	}
}
