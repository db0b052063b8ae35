package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"valise/blobstore"
)

// TestCheckFindsLostShards checks the heal job's cheap pass: a shard file deleted,
// truncated, foreign or on a deleted directory is reported without reading the pieces; bit
// rot inside a piece is left to Heal, which finds it; a healed file checks clean.
func TestCheckFindsLostShards(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	foreign := e.put("check-foreign", randomData(77, 9*4*testBlock))
	ctx := context.Background()
	for _, dmg := range damages {
		t.Run(dmg.name, func(t *testing.T) {
			e.t = t
			data := randomData(5, 9*4*testBlock+17)
			m := e.put(blobstore.FileID("check-"+strings.ReplaceAll(dmg.name, " ", "_")), data)
			if bad, err := e.s.Check(ctx, m, nil); err != nil || len(bad) != 0 {
				t.Fatalf("Check of a healthy file = %v, %v", bad, err)
			}
			dmg.do(e, m, 1, foreign)
			bad, err := e.s.Check(ctx, m, nil)
			must(t, err)
			if dmg.name != "flipped bytes" && !slices.Equal(bad, []int{1}) {
				t.Fatalf("Check after %s of shard 1 = %v, want [1]", dmg.name, bad)
			}
			m2, rep, err := e.s.Heal(ctx, m)
			must(t, err)
			if !slices.Equal(rep.Bad, []int{1}) {
				t.Fatalf("Heal after %s found %v, want [1]", dmg.name, rep.Bad)
			}
			if bad, err := e.s.Check(ctx, m2, nil); err != nil || len(bad) != 0 {
				t.Fatalf("Check after heal = %v, %v", bad, err)
			}
			if got, err := e.get(m2); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read after heal: %v", err)
			}
		})
	}
}

// TestHealAvoiding moves every shard off the avoided disks (a drained node, a failed disk):
// the new manifest names none of them, the file reads back bit-exact, and Check of the old
// manifest with the same avoid set names the shards that had to move.
func TestHealAvoiding(t *testing.T) {
	e := newEnv(t, 8, "4+2")
	ctx := context.Background()
	data := randomData(9, 5*4*testBlock+3)
	m := e.put("avoid-me", data)
	avoid := []blobstore.DiskID{m.Shards[0], m.Shards[5]}
	bad, err := e.s.Check(ctx, m, avoid)
	if err != nil || !slices.Equal(bad, []int{0, 5}) {
		t.Fatalf("Check with avoid = %v, %v; want [0 5]", bad, err)
	}
	m2, rep, err := e.s.HealAvoiding(ctx, m, avoid)
	must(t, err)
	if !slices.Equal(rep.Moved, []int{0, 5}) {
		t.Fatalf("moved %v, want [0 5]", rep.Moved)
	}
	for i, d := range m2.Shards {
		if slices.Contains(avoid, d) {
			t.Fatalf("shard %d still on avoided disk %s", i, d)
		}
		if slices.Index(m2.Shards, d) != i {
			t.Fatalf("two shards on disk %s: %v", d, m2.Shards)
		}
	}
	if got, err := e.get(m2); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after moving: %v", err)
	}
	if bad, err := e.s.Check(ctx, m2, avoid); err != nil || len(bad) != 0 {
		t.Fatalf("Check of the moved file = %v, %v", bad, err)
	}
	t.Run("no free disk: beside another shard", func(t *testing.T) {
		// 6 disks for 4+2, one node: every disk holds a shard; a disk may hold m = 2, so the
		// shard off the avoided disk goes beside another one, as a second shard file there.
		e := newEnv(t, 6, "4+2")
		m := e.put("beside", data)
		m2, rep, err := e.s.HealAvoiding(ctx, m, m.Shards[:1])
		must(t, err)
		if !slices.Equal(rep.Moved, []int{0}) || m2.Shards[0] == m.Shards[0] || !slices.Contains(m.Shards[1:], m2.Shards[0]) {
			t.Fatalf("moved %v to %v, want shard 0 beside another shard: %v", rep.Moved, m2.Shards[0], m.Shards)
		}
		if got, err := e.get(m2); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read after moving: %v", err)
		}
		if bad, err := e.s.Check(ctx, m2, nil); err != nil || len(bad) != 0 {
			t.Fatalf("Check of the moved file = %v, %v", bad, err)
		}
		// The disk holding two shards is lost: 2 ≤ m, the file still reads and heals.
		twice := m2.Shards[0]
		m3, _, err := e.s.HealAvoiding(ctx, m2, []blobstore.DiskID{twice})
		must(t, err)
		if slices.Contains(m3.Shards, twice) {
			t.Fatalf("shards left on the avoided disk: %v", m3.Shards)
		}
		if got, err := e.get(m3); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read after losing the disk holding two shards: %v", err)
		}
		// Delete removes both shard files of a disk holding two.
		must(t, e.s.Delete(ctx, m3))
		for id, dir := range e.dirs {
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.Contains(p, "beside.") && !slices.Contains(m.Shards[:1], id) && id != twice {
					t.Errorf("left after Delete on %s: %s", id, p)
				}
				return nil
			})
		}
	})
	t.Run("every disk would exceed m", func(t *testing.T) {
		// 5 disks for 4+1, one node: a second shard on any disk puts 2 > m = 1 in it.
		e := newEnv(t, 5, "4+1")
		m := e.put("nowhere", data)
		_, _, err := e.s.HealAvoiding(ctx, m, m.Shards[:1])
		if !errors.Is(err, blobstore.ErrNoLayout) || !strings.Contains(err.Error(), "one more there would lose the file") {
			t.Fatalf("HealAvoiding = %v, want a refusal saying the domains are full", err)
		}
		if got, err := e.get(m); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("a refused move hurt the file: %v", err)
		}
	})
}

// TestHealNeededHook checks that a degraded read and a heal report the file to the
// SetHealNeeded function, so the node can count degraded files, and that a healthy read does
// not.
func TestHealNeededHook(t *testing.T) {
	e := newEnv(t, 6, "4+2")
	var mu sync.Mutex
	seen := map[blobstore.FileID]int{}
	e.s.SetHealNeeded(func(id blobstore.FileID) {
		mu.Lock()
		seen[id]++
		mu.Unlock()
	})
	data := randomData(3, 3*4*testBlock)
	m := e.put("hooked", data)
	if _, err := e.get(m); err != nil {
		t.Fatal(err)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return seen["hooked"] }
	if c := count(); c != 0 {
		t.Fatalf("a healthy read reported the file %d times", c)
	}
	damages[0].do(e, m, 2, m)
	if got, _ := e.get(m); !bytes.Equal(got, data) {
		t.Fatal("degraded read differs")
	}
	if c := count(); c == 0 {
		t.Fatal("a degraded read did not report the file")
	}
	e.s.SetHealNeeded(nil)
	before := count()
	if _, err := e.get(m); err == nil {
		t.Fatal(fmt.Errorf("read of a damaged file without ErrHealNeeded"))
	}
	if count() != before {
		t.Fatal("SetHealNeeded(nil) did not stop the calls")
	}
}
