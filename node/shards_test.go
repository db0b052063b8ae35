package node

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"testing"

	"valise/blobstore"
	"valise/blobstore/shardnet"
	"valise/internal/clusternet"
	"valise/internal/testlog"
)

// checkShardServer checks that a serving node answers shard calls on its cluster port for its
// own disks, to a peer with a certificate from the cluster CA (issue 18, "shards travel
// between nodes"), and refuses a disk it does not hold.
func checkShardServer(t *testing.T, n *instance) {
	t.Helper()
	const peer = "peer-node"
	cert, err := n.keys.IssueNodeCert(peer, nil, []net.IP{net.ParseIP("127.0.0.1")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := clusternet.DefaultConfig()
	ccfg.NodeID, ccfg.Cert, ccfg.CA, ccfg.ListenAddr = peer, cert, n.keys.CertPool(), "127.0.0.1:0"
	mux, err := clusternet.Listen(ccfg, testlog.New(t, slog.LevelWarn))
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	client, err := shardnet.NewClient(mux, shardnet.DefaultClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := t.Context()
	var served blobstore.DiskID
	for _, ld := range n.disks {
		if ld.disk != nil {
			served = ld.id
			break
		}
	}
	d := client.RemoteDisk(n.mux.Addr().String(), n.cfg.Node.ID, served)
	if total, free, err := d.Usage(ctx); err != nil || total == 0 || free > total {
		t.Fatalf("usage of disk %s over the cluster port = %d, %d, %v", served, total, free, err)
	}
	f, err := d.Create(ctx, "shardnet-check/f", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("remote"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if names, err := d.List(ctx, "shardnet-check"); err != nil || !slices.Equal(names, []string{"shardnet-check/f"}) {
		t.Fatalf("list over the cluster port = %q, %v", names, err)
	}
	if err := d.Remove(ctx, "shardnet-check/f"); err != nil {
		t.Fatal(err)
	}
	other := client.RemoteDisk(n.mux.Addr().String(), n.cfg.Node.ID, "not-this-node")
	if _, _, err := other.Usage(ctx); !errors.Is(err, shardnet.ErrUnknownDisk) {
		t.Fatalf("usage of a disk the node does not hold = %v, want ErrUnknownDisk", err)
	}
}
