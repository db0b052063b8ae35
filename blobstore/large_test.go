//go:build large

package blobstore_test

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

const rssChildEnv = "VALISE_BLOBSTORE_RSS_CHILD"

// TestLargeRSSFlat shows memory flat whatever the file size: the peak RSS of a put and get of
// 1 GiB stays within 32 MiB of that of 256 MiB, and under 200 MiB. Each size runs in a child
// process (this test binary re-executed) so that its peak RSS is its own.
func TestLargeRSSFlat(t *testing.T) {
	if v := os.Getenv(rssChildEnv); v != "" {
		rssChild(t, v) // this process is the child, re-executed below
		return
	}
	peak := map[int64]int64{}
	for _, size := range []int64{256 << 20, 1 << 30} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLargeRSSFlat$", "-test.v")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+strconv.FormatInt(size, 10))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child for %d bytes: %v\n%s", size, err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		peak[size] = ru.Maxrss << 10 // KiB on Linux
		t.Logf("put+get of %d MiB: peak RSS %d MiB", size>>20, peak[size]>>20)
	}
	small, big := peak[256<<20], peak[1<<30]
	if big-small > 32<<20 {
		t.Errorf("peak RSS grows with size: %d MiB for 1 GiB vs %d MiB for 256 MiB", big>>20, small>>20)
	}
	if big >= 200<<20 {
		t.Errorf("peak RSS %d MiB for 1 GiB, want < 200 MiB", big>>20)
	}
}

// rssChild is TestLargeRSSFlat's child process: one put and get of the size v says.
func rssChild(t *testing.T, v string) {
	size, err := strconv.ParseInt(v, 10, 64)
	must(t, err)
	disks, _ := blobtest.DirDisks(t, t.TempDir(), 6)
	cfg := blobstore.DefaultConfig()
	cfg.MinFreeBytes = 0
	s, err := blobstore.New(cfg, blobtest.ClusterMap(disks), disks, nil, blobtest.NewKeyWrapper(), blobtest.Logger(t))
	must(t, err)
	defer s.Close()
	h := sha256.New()
	src := io.TeeReader(newSource("text", size/2), h)
	all := io.MultiReader(src, io.TeeReader(newSource("random", size-size/2), h))
	m, err := s.Put(context.Background(), "large", all)
	must(t, err)
	if [32]byte(h.Sum(nil)) != m.SHA256 || m.Size != size {
		t.Fatal("put digest or size wrong")
	}
	g := sha256.New()
	must(t, s.Get(context.Background(), m, g, 0, -1))
	if [32]byte(g.Sum(nil)) != m.SHA256 {
		t.Fatal("get returned other bytes")
	}
}
