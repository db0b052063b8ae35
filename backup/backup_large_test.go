//go:build large

package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/raft"

	"valise/backup"
	"valise/internal/poll"
	"valise/internal/testlog"
	"valise/keyring"
	"valise/raftfsm"
)

// rssAnon reads the process's resident anonymous memory (heap, stacks, Badger's arenas), in
// bytes, from /proc/self/status. File-backed pages (Badger's mmap'd tables and value log,
// which the page cache holds whatever the process does) are left out.
func rssAnon(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssAnon in /proc/self/status")
	return 0
}

// rssPeak samples rssAnon until stop and returns the highest value seen.
func rssPeak(t testing.TB, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, rssAnon(t))
			select {
			case <-stop:
				out <- max(peak, rssAnon(t))
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// measure runs fn and returns the growth of resident anonymous memory at its peak over the
// level before it (after a GC that returns freed memory to the system).
// The GC runs at GOGC=10 meanwhile (a node sets GOMEMLIMIT for the same effect), so that
// garbage not yet collected does not pass for memory held.
func measure(t testing.TB, fn func()) int64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	debug.FreeOSMemory()
	base := rssAnon(t)
	stop := make(chan struct{})
	peakCh := rssPeak(t, stop)
	fn()
	close(stop)
	return <-peakCh - base
}

// TestLargeBackupOneMillionRecords: backing up a metadata store of a million records, and
// reading the backup back (decrypt, check the snapshot and its journal), keeps memory flat:
// the resident memory grows by far less than the stream, which is never buffered whole.
func TestLargeBackupOneMillionRecords(t *testing.T) {
	const records = 1_000_000
	addr, trans := raft.NewInmemTransport("")
	cfg := raftfsm.DefaultConfig()
	cfg.NodeID, cfg.Dir = "n1", t.TempDir()
	s, err := raftfsm.Open(cfg, raftfsm.Deps{Transport: trans, Logger: testlog.New(t, 8)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.BootstrapSelf(addr); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "leadership", func() bool { return s.Status().State.IsLeader() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for i := 0; i < records; {
		b := raftfsm.Batch{Audit: raftfsm.Audit{Time: time.Now().UTC(), Actor: "test", Action: "test.fill"}}
		for ; i < records && len(b.Ops) < raftfsm.MaxOps; i++ {
			b.Ops = append(b.Ops, raftfsm.Op{Kind: raftfsm.OpPut, Key: fmt.Appendf(nil, "rec/%08d", i), Value: fmt.Appendf(nil, "value of record %d", i)})
		}
		if _, err := s.Propose(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	keys := keyring.Bundle{KEK: make([]byte, 32), SigningSeed: make([]byte, ed25519.SeedSize)}
	rand.Read(keys.SigningSeed)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "backup.age")
	var written, estimate int64
	var info raftfsm.SnapshotInfo
	growWrite := measure(t, func() {
		sn, err := s.OpenSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		info, estimate = sn.Info(), sn.EstimatedSize()
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := backup.Manifest{ClusterID: "large", Index: info.Index, Term: info.Term, JournalSeq: info.Head.Seq}
		err = backup.Write(f, backup.Protection{Recipient: id.Recipient().String()}, m, keys, func(w io.Writer) error {
			var err error
			written, err = sn.WriteTo(w)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("backup of %d records: snapshot stream %d MiB (estimate %d MiB), resident memory +%d MiB",
		records, written>>20, estimate>>20, growWrite>>20)

	var rep raftfsm.SnapshotReport
	var users int
	growRead := measure(t, func() {
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := backup.Open(bufio.NewReader(f), backup.Unlock{Identity: []byte(id.String())})
		if err != nil {
			t.Fatal(err)
		}
		rep, err = raftfsm.CheckSnapshot(r.Snapshot(), func(it raftfsm.Item) error {
			if users++; !bytes.HasPrefix(it.Key, []byte("rec/")) {
				return fmt.Errorf("unexpected key %q", it.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(keyring.KeyFingerprint(ed25519.NewKeyFromSeed(keys.SigningSeed).Public().(ed25519.PublicKey))); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("verify: %d records, %d journal entries, resident memory +%d MiB", rep.Records, rep.JournalEntries, growRead>>20)
	if users != records || rep.Applied != info.Index || rep.Head != info.Head {
		t.Fatalf("read back %d records, report %+v, info %+v", users, rep, info)
	}
	// Badger's iterator, block cache and age's chunk buffers are a fixed cost of a few MiB;
	// buffering the stream would add all of it (tens of MiB).
	for what, grow := range map[string]int64{"backup": growWrite, "verify": growRead} {
		if grow > 32<<20 || grow > written/2 {
			t.Errorf("%s: resident memory grew by %d MiB for a %d MiB stream", what, grow>>20, written>>20)
		}
	}
	runtime.KeepAlive(s)
}
