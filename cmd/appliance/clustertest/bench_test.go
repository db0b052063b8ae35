package clustertest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"valise/adminapi"
	"valise/cmd/appliance/clustertest"
)

// benchSize is the size of the transfer benchmark's file: VALISE_BENCH_UPLOAD_SIZE bytes,
// 1 GiB by default.
func benchSize(b *testing.B) int64 {
	if s := os.Getenv("VALISE_BENCH_UPLOAD_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("VALISE_BENCH_UPLOAD_SIZE=%q: want a size in bytes", s)
		}
		return n
	}
	return 1 << 30
}

// BenchmarkTransfer uploads one file through the API of one node with tus in 64 MiB PATCHes
// and downloads it by link from another, on a 3-node cluster (three sites) beside a one-node
// cluster of the same run. Every node shares this machine's CPU and disk: the cluster figure
// is bounded by them, not by the network (loopback).
func BenchmarkTransfer(b *testing.B) {
	for _, bc := range []struct {
		name  string
		sites []string
	}{
		{"nodes=1", []string{"paris"}},
		{"nodes=3", []string{"paris", "lyon", "lille"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := clustertest.New(b, clustertest.Options{Sites: bc.sites, ClamdAddress: "unix:" + clamd.Daemon(b).Client().Addr, LAN: true})
			up, down := c.Nodes[0], c.Nodes[len(c.Nodes)-1]
			token := up.User("alice@example.org")
			size := benchSize(b)
			chunk := make([]byte, 64<<20)
			b.SetBytes(size)
			b.ResetTimer()
			for i := range b.N {
				rng := rand.NewChaCha8([32]byte{byte(i)})
				h := sha256.New()
				start := time.Now()
				u, err := up.CreateUpload(token, "big.bin", size)
				if err != nil {
					b.Fatal(err)
				}
				for u.Offset < size {
					part := chunk[:min(int64(len(chunk)), size-u.Offset)]
					_, _ = rng.Read(part)
					h.Write(part)
					if err := up.PatchBytes(token, u, part); err != nil {
						b.Fatal(err)
					}
				}
				upSecs := time.Since(start).Seconds()
				up.WaitClean(token, u.FileID())
				_, link, err := up.Send(token, "bob@example.org", u.FileID())
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				got, err := down.Download(link, u.FileID())
				if err != nil {
					b.Fatal(err)
				}
				downSecs := time.Since(start).Seconds()
				if want := hex.EncodeToString(h.Sum(nil)); got != want {
					b.Fatalf("downloaded SHA-256 %s, want %s", got, want)
				}
				b.ReportMetric(float64(size)/upSecs/1e6, "upload-MB/s")
				b.ReportMetric(float64(size)/downSecs/1e6, "download-MB/s")
			}
		})
	}
}

// BenchmarkLeaderFailover kills the leader of a 3-node cluster with SIGKILL ten times and
// reports the time until another node says it is the leader, p50 and max, as seen through
// the survivors' admin sockets. The killed node is restarted and the cluster converges
// between kills.
func BenchmarkLeaderFailover(b *testing.B) {
	c := clustertest.New(b, clustertest.Options{Sites: []string{"paris", "lyon", "lille"}, ClamdAddress: "unix:" + clamd.Daemon(b).Client().Addr, LAN: true})
	const kills = 10
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		for range kills {
			leader := c.Leader()
			var admins []*adminClient
			for _, n := range c.Others(leader) {
				admins = append(admins, newAdminClient(n))
			}
			// Asked every 5 ms: the figure's resolution, light enough not to slow the election
			// on a small machine.
			tick := time.NewTicker(5 * time.Millisecond)
			start := time.Now()
			leader.Kill()
			for !slices.ContainsFunc(admins, (*adminClient).isLeader) {
				if time.Since(start) > 2*time.Minute {
					b.Fatal("no new leader within two minutes of the kill")
				}
				<-tick.C
			}
			tick.Stop()
			took = append(took, time.Since(start))
			for _, a := range admins {
				a.close()
			}
			leader.Start()
			leader.WaitReady()
			c.Converged()
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}

// adminClient asks one node, over its admin socket, whether it is the leader.
type adminClient struct {
	c *adminapi.Client
}

func newAdminClient(n *clustertest.Node) *adminClient { return &adminClient{c: n.Admin()} }

func (a *adminClient) isLeader() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := a.c.Status(ctx)
	return err == nil && st.Raft.State == "Leader"
}

func (a *adminClient) close() { a.c.Close() }
