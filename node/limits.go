package node

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"valise/internal/membudget"
)

// The byte-path limits (issue 16 item 5).
const (
	// admitWait is how long a transfer waits for room in the memory budget before it is
	// answered 503. Waiting holds no pipeline buffer (only the connection), and the web UI
	// starts every file's upload at once: the queue must absorb a folder's files.
	admitWait = 20 * time.Second
	// admitRetryAfter is the Retry-After of that 503.
	admitRetryAfter = 10 * time.Second
	// liveScanTee is the live scan's buffer per upload (the scan package's default is 16 MiB):
	// clamd takes an INSTREAM as fast as its disk writes, so a few MiB absorb its pauses; a
	// scan that falls further behind is dropped and the file rescanned from its blocks.
	liveScanTee = 4 << 20
	// transferOverhead is what one transfer holds besides its pipeline: the connection's TLS
	// records and fasthttp buffers, the copy buffers.
	transferOverhead = 1 << 20
	// heapHeadroom is what the Go runtime's soft memory limit allows above the budget: the
	// metadata store's caches, connections, goroutines. Without a limit the collector lets
	// the heap grow to twice what is live, budget included.
	heapHeadroom = 128 << 20
)

// startLimits builds the byte path's memory gate from limits.memory_budget and
// limits.max_zips: each upload reserves its blobstore writer's buffers and its live scan's,
// each download and zip its reader's, counted against the user (the link, for a download)
// and the client address, each of which may hold a quarter of the budget (at least three
// transfers of any kind). It also sets the Go runtime's soft memory limit to the budget plus
// heapHeadroom, unless GOMEMLIMIT set one.
//
// Memory outside the budget, bounded elsewhere: connections (httpd.Limits), the writers kept
// open between an upload's PATCHes (upload.Config.MaxOpenWriters, 4).
func (n *instance) startLimits() error {
	total, err := strconv.ParseInt(n.setting("limits.memory_budget"), 10, 64)
	if err != nil {
		return fmt.Errorf("limits.memory_budget: %w", err)
	}
	zips, err := strconv.Atoi(n.setting("limits.max_zips"))
	if err != nil {
		return fmt.Errorf("limits.max_zips: %w", err)
	}
	write, read := n.blobs.PipelineBytes()
	costs := [3]int64{
		membudget.Upload:   write + liveScanTee + transferOverhead,
		membudget.Download: read + transferOverhead,
		membudget.Zip:      read + transferOverhead,
	}
	biggest := max(costs[0], costs[1], costs[2])
	if total < 4*biggest {
		n.logger.Warn("limits.memory_budget holds fewer than four transfers: raised", "budget", total, "per_transfer", biggest)
		total = 4 * biggest
	}
	share := min(total, max(total/4, 3*biggest))
	b, err := membudget.New(total, share)
	if err != nil {
		return err
	}
	g, err := membudget.NewGate(b, membudget.GateConfig{Costs: costs, Wait: admitWait, MaxZips: zips, RetryAfter: admitRetryAfter})
	if err != nil {
		return err
	}
	n.memGate = g
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(total + heapHeadroom)
	}
	n.logger.Info("byte-path memory budget", "budget", total, "per_user", share,
		"upload", costs[membudget.Upload], "download", costs[membudget.Download], "max_zips", zips)
	return nil
}
