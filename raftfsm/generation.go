package raftfsm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The FSM's Badger lives in a numbered generation directory, Dir/fsm/<gen>, and the file
// Dir/fsm/CURRENT names the live one. Restore builds the next generation beside the live
// one and switches by replacing CURRENT (write, fsync, rename, fsync the directory): a
// crash at any point leaves CURRENT naming a complete generation, and openFSM removes the
// others. Directories are never renamed under an open Badger, which keeps writing into the
// path it was opened with (flushes, compactions, its own Close).
const currentFile = "CURRENT"

// dbGen is one open generation. Snapshots hold a reference, so a Restore that retires the
// generation leaves it open until the last snapshot is released: Restore can never wait for
// a snapshot, because raft's snapshot goroutine may itself be waiting for raft's main loop,
// which waits for the Restore.
type dbGen struct {
	gen    uint64
	dir    string
	db     *badger.DB
	gc     *valueLogGC
	logger *slog.Logger

	mu      sync.Mutex // guards refs, retired, remove
	refs    int
	retired bool
	remove  bool // delete dir once closed
}

func openGen(root string, gen uint64, logger *slog.Logger) (*dbGen, error) {
	dir := filepath.Join(root, strconv.FormatUint(gen, 10))
	db, err := openBadger(dir, fsmProfile(), logger)
	if err != nil {
		return nil, err
	}
	return &dbGen{gen: gen, dir: dir, db: db, gc: startValueLogGC(db, 5*time.Minute, logger), logger: logger}, nil
}

func (g *dbGen) acquire() {
	g.mu.Lock()
	g.refs++
	g.mu.Unlock()
}

func (g *dbGen) release() {
	g.mu.Lock()
	g.refs--
	last := g.retired && g.refs == 0
	g.mu.Unlock()
	if last {
		g.shut()
	}
}

// retire closes the generation now or, if snapshots still read it, when the last one is
// released; remove also deletes its directory.
func (g *dbGen) retire(remove bool) error {
	g.mu.Lock()
	g.retired, g.remove = true, remove
	now := g.refs == 0
	g.mu.Unlock()
	if now {
		return g.shut()
	}
	return nil
}

func (g *dbGen) shut() error {
	g.gc.Stop()
	err := g.db.Close()
	if err != nil {
		g.logger.Error("close fsm generation", attrDir, g.dir, attrErr, err)
	}
	if g.remove {
		if rerr := os.RemoveAll(g.dir); rerr != nil {
			g.logger.Warn("remove old fsm generation", attrDir, g.dir, attrErr, rerr)
		}
	}
	return err
}

// readCurrent returns the live generation named by root/CURRENT, 0 when there is none.
func readCurrent(root string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(root, currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	gen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || gen == 0 {
		return 0, fmt.Errorf("%s: bad generation %q", filepath.Join(root, currentFile), b)
	}
	return gen, nil
}

// writeCurrent makes gen the live generation, durably and atomically.
func writeCurrent(root string, gen uint64) error {
	tmp := filepath.Join(root, currentFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d\n", gen)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(root, currentFile))
	}
	if err == nil {
		err = syncDir(root)
	}
	if err != nil {
		return fmt.Errorf("switch fsm to generation %d: %w", gen, err)
	}
	return nil
}

// removeOtherGens deletes every generation directory but keep, and a stray CURRENT.tmp:
// what a crash during Restore left behind.
func removeOtherGens(root string, keep uint64) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n, perr := strconv.ParseUint(e.Name(), 10, 64)
		stray := e.Name() == currentFile+".tmp" || (perr == nil && n != keep && e.IsDir())
		if !stray {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
