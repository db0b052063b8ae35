package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerProfile is the memory shape of one Badger database. Badger's defaults (five 64 MiB
// memtables, a 256 MiB block cache, unbounded index memory, 1 GiB value log files) add up to
// hundreds of MiB; a node runs two databases and must stay well under 100 MiB.
type badgerProfile struct {
	syncWrites bool
	// memTable is the size of one memtable. A transaction may not exceed 15 % of it
	// (badger's maxBatchSize), which is what bounds a Batch (see fsmProfile).
	memTable int64
	// numMemtables is the number of immutable memtables waiting for flush (one more is active).
	numMemtables int
	// valueThreshold: values at least this long go to the value log, and count only a
	// pointer against the transaction size limit.
	valueThreshold int64
	blockCache     int64
	indexCache     int64
}

// logProfile is the Raft log and stable store: every write synced, small commands inline.
func logProfile() badgerProfile {
	return badgerProfile{
		syncWrites:     true,
		memTable:       4 << 20,
		numMemtables:   2,
		valueThreshold: 1 << 10,
		blockCache:     4 << 20,
		indexCache:     2 << 20,
	}
}

// fsmProfile is the FSM state. Its transaction limit is 15 % of 16 MiB = 2 516 582 bytes; a
// valid batch adds at most MaxOps × (MaxKeySize + valueThreshold-1 + 12) = 4096 × 587 =
// 2 404 352 bytes of puts, plus four small internal records: any valid batch commits in ONE
// transaction (TestApplyLargestBatch proves it).
func fsmProfile() badgerProfile {
	return badgerProfile{
		syncWrites:     false,
		memTable:       16 << 20,
		numMemtables:   1,
		valueThreshold: 64,
		blockCache:     8 << 20,
		indexCache:     4 << 20,
	}
}

func (p badgerProfile) options(dir string, logger *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(p.syncWrites).
		WithMemTableSize(p.memTable).
		WithNumMemtables(p.numMemtables).
		WithValueThreshold(p.valueThreshold).
		WithBlockCacheSize(p.blockCache).
		WithIndexCacheSize(p.indexCache).
		WithBaseTableSize(2 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithNumGoroutines(2).
		WithLogger(badgerLogger{logger})
}

// openBadger opens dir with profile p, translating Badger's directory lock failure into
// ErrLocked.
func openBadger(dir string, p badgerProfile, logger *slog.Logger) (*badger.DB, error) {
	db, err := badger.Open(p.options(dir, logger))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("another node is running on %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("open badger %s: %w", dir, err)
	}
	return db, nil
}

// valueLogGC runs Badger's value log garbage collection on a ticker until Stop: Badger never
// collects its value log by itself (docs/dependencies.md, trap 3).
type valueLogGC struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startValueLogGC(db *badger.DB, every time.Duration, logger *slog.Logger) *valueLogGC {
	g := &valueLogGC{stop: make(chan struct{})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
			}
			for i := 0; i < 16; i++ { // bounded: a GC pass rewrites one file
				err := db.RunValueLogGC(0.5)
				if err == nil {
					continue
				}
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					logger.Warn("value log gc", attrErr, err)
				}
				break
			}
		}
	}()
	return g
}

// Stop stops the collector and waits for it. It is idempotent.
func (g *valueLogGC) Stop() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// badgerLogger sends Badger's logs to slog; Badger's Info is chatty (compactions, flushes),
// so it goes to Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) { b.Debugf(f, a...) }
func (b badgerLogger) Debugf(f string, a ...any) {
	if b.l.Enabled(context.Background(), slog.LevelDebug) {
		b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
