package clustertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Partition cuts traffic between nodes of a cluster on loopback with an nftables table of its
// own (docs/testing.md, "Network faults"): rules drop packets from one node's address to
// another's on the input hook, so both directions of a pair are cut by two rules. Nodes dial
// from their own cluster address (clusternet binds the dialer to it), which is what makes a
// rule on the pair of addresses hold. The table is deleted by Heal and by t.Cleanup, so a failed
// test leaves no rule behind; the rules are machine-wide, so tests that partition must not run
// in parallel.
//
// Partitions need root and the nft command; without them the test is skipped, or fails under
// VALISE_REQUIRE_ALL=1 (make test).
type Partition struct {
	t     testing.TB
	table string
	made  bool
}

var tableSeq atomic.Int64

// NewPartition returns a Partition with no rule yet.
func NewPartition(t testing.TB) *Partition {
	t.Helper()
	RequireRoot(t, "partitions (nftables)")
	if _, err := exec.LookPath("nft"); err != nil {
		missing(t, "partitions need the nft command (apt install nftables: make test does)")
	}
	p := &Partition{t: t, table: "valise_test_" + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatInt(tableSeq.Add(1), 10)}
	t.Cleanup(p.Heal)
	return p
}

// RequireRoot skips t, or fails it under VALISE_REQUIRE_ALL=1 (make test), unless the test
// runs as root, which what needs names (nftables, a tmpfs mount).
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, what+" need root")
	}
}

// missing skips t for a missing real part, or fails it under VALISE_REQUIRE_ALL=1: a missing
// part never passes silently in make test.
func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("VALISE_REQUIRE_ALL") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// nft runs one nft command.
func (p *Partition) nft(args ...string) error {
	cmd := exec.Command("nft", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Isolate cuts every node of side from every node of the others, both ways.
func (p *Partition) Isolate(side []*Node, others []*Node) {
	p.t.Helper()
	if !p.made {
		if err := p.nft("add", "table", "inet", p.table); err != nil {
			p.t.Fatal(err)
		}
		if err := p.nft("add", "chain", "inet", p.table, "in", "{ type filter hook input priority 0; policy accept; }"); err != nil {
			p.t.Fatal(err)
		}
		p.made = true
	}
	for _, a := range side {
		for _, b := range others {
			for _, pair := range [][2]string{{a.IP, b.IP}, {b.IP, a.IP}} {
				if err := p.nft("add", "rule", "inet", p.table, "in", "ip", "saddr", pair[0], "ip", "daddr", pair[1], "drop"); err != nil {
					p.t.Fatal(err)
				}
			}
		}
	}
}

// Heal removes every rule of the partition.
func (p *Partition) Heal() {
	if !p.made {
		return
	}
	if err := p.nft("delete", "table", "inet", p.table); err != nil {
		p.t.Errorf("heal the partition: %v", err)
		return
	}
	p.made = false
}
