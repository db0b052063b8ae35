package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Internal keys of the FSM's Badger: they start with 0x00, which no user key may.
const (
	keyApplied = "\x00a" // big-endian uint64: the last applied Raft index
	keyHead    = "\x00h" // JournalHead: seq (8) ‖ hash (32)
)

const journalTag = 'j' // 0x00 'j' + big-endian seq → encoded Entry

func journalKey(seq uint64) []byte {
	k := make([]byte, 10)
	k[0], k[1] = 0x00, journalTag
	binary.BigEndian.PutUint64(k[2:], seq)
	return k
}

// fsm is the raft.FSM: the metadata state on its own Badger directory, without SyncWrites
// (the Raft log, which is synced, can replay anything lost; Snapshot syncs before a snapshot
// lets Raft drop log entries).
//
// Apply, Snapshot and Restore are called by Raft's FSM goroutine, one at a time; the read
// methods are called from any goroutine.
type fsm struct {
	root   string // Dir/fsm: CURRENT and the generation directories
	logger *slog.Logger

	mu  sync.RWMutex // guards cur, which Restore replaces; holders of RLock may use cur.db
	cur *dbGen       // nil once closed

	// head is the journal head; only the FSM goroutine (Apply, Restore) and open touch it.
	head JournalHead

	applied atomic.Uint64 // the last applied index, as committed to Badger

	waitMu sync.Mutex    // guards waitCh
	waitCh chan struct{} // closed and replaced each time applied grows

	closeOnce sync.Once
}

var (
	_ raft.BatchingFSM        = (*fsm)(nil)
	_ raft.ConfigurationStore = (*fsm)(nil)
)

// openFSM opens the FSM state under root, first removing what an interrupted Restore left.
// The caller holds the node's lock (Store.Open opens the Raft store first), so no other
// process is restoring into root meanwhile.
func openFSM(root string, logger *slog.Logger) (*fsm, error) {
	f := &fsm{root: root, logger: logger, waitCh: make(chan struct{})}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open fsm: %w", err)
	}
	gen, err := readCurrent(root)
	if err != nil {
		return nil, fmt.Errorf("open fsm: %w", err)
	}
	if gen == 0 {
		gen = 1
		if err := removeOtherGens(root, gen); err != nil {
			return nil, fmt.Errorf("open fsm: %w", err)
		}
		if err := writeCurrent(root, gen); err != nil {
			return nil, fmt.Errorf("open fsm: %w", err)
		}
	} else if err := removeOtherGens(root, gen); err != nil {
		return nil, fmt.Errorf("open fsm: %w", err)
	}
	g, err := openGen(root, gen, logger)
	if err != nil {
		return nil, err
	}
	if err := f.load(g.db); err != nil {
		g.retire(false)
		return nil, err
	}
	f.cur = g
	return f, nil
}

// load reads the applied index and journal head of db into f.
func (f *fsm) load(db *badger.DB) error {
	var applied uint64
	var head JournalHead
	err := db.View(func(txn *badger.Txn) error {
		var err error
		if applied, err = readApplied(txn); err != nil {
			return err
		}
		head, err = readHead(txn)
		return err
	})
	if err != nil {
		return fmt.Errorf("load fsm state: %w", err)
	}
	f.head = head
	f.setApplied(applied)
	return nil
}

func readApplied(txn *badger.Txn) (uint64, error) {
	item, err := txn.Get([]byte(keyApplied))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v uint64
	err = item.Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("applied index: %d bytes", len(b))
		}
		v = binary.BigEndian.Uint64(b)
		return nil
	})
	return v, err
}

func readHead(txn *badger.Txn) (JournalHead, error) {
	var h JournalHead
	item, err := txn.Get([]byte(keyHead))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	err = item.Value(func(b []byte) error {
		if len(b) != 40 {
			return fmt.Errorf("journal head: %d bytes", len(b))
		}
		h.Seq = binary.BigEndian.Uint64(b)
		copy(h.Hash[:], b[8:])
		return nil
	})
	return h, err
}

func encodeHead(h JournalHead) []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint64(b, h.Seq)
	copy(b[8:], h.Hash[:])
	return b
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// setApplied publishes a new applied index and wakes WaitApplied.
func (f *fsm) setApplied(i uint64) {
	f.applied.Store(i)
	f.waitMu.Lock()
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.waitMu.Unlock()
}

// changed returns a channel closed at the next change of the applied index.
func (f *fsm) changed() <-chan struct{} {
	f.waitMu.Lock()
	defer f.waitMu.Unlock()
	return f.waitCh
}

// StoreConfiguration implements raft.ConfigurationStore: raft hands configuration entries
// here instead of to Apply, and the applied index covers them too.
func (f *fsm) StoreConfiguration(index uint64, _ raft.Configuration) {
	if index <= f.applied.Load() {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.mustCommit(index, func(*badger.Txn) error { return nil })
}

// groupBudget bounds the estimated Badger size of the entries ApplyBatch groups into one
// transaction beyond the first: well under the FSM transaction limit (fsmProfile), so a
// group is never larger than max(one entry, groupBudget), and one entry always fits.
const groupBudget = 1 << 20

// Apply applies one committed log entry: see ApplyBatch.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries in order, exactly once: an entry at or below the
// stored applied index is skipped (a replay after a restart) and answers nil. Consecutive
// entries share one Badger transaction, which also writes the applied index, while their
// estimated size stays within groupBudget. A command answers a Result, or a *ConflictError
// when a precondition fails (it then writes nothing; only the applied index moves past it).
// Other entry types only move the applied index. An undecodable command or a Badger failure
// panics: the node stops rather than diverge.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := 0; i < len(logs); {
		txn := f.cur.db.NewTransaction(true)
		head, last, used := f.head, f.applied.Load(), 0
		for ; i < len(logs); i++ {
			l := logs[i]
			if l.Index <= last {
				continue
			}
			var b Batch
			cost := 64
			if l.Type == raft.LogCommand {
				var err error
				if b, err = DecodeBatch(l.Data); err != nil {
					panic(fmt.Sprintf("raftfsm: log entry %d: %v (stopping: the state would diverge)", l.Index, err))
				}
				cost = batchCost(b)
			}
			if used > 0 && used+cost > groupBudget {
				break
			}
			used += cost
			if l.Type == raft.LogCommand {
				var err error
				if resp[i], head, err = applyBatch(txn, l.Index, b, head); err != nil {
					panic(fmt.Sprintf("raftfsm: apply log entry %d: %v (stopping: the state would diverge)", l.Index, err))
				}
			}
			last = l.Index
		}
		if used == 0 { // all skipped
			txn.Discard()
			continue
		}
		err := txn.Set([]byte(keyApplied), u64(last))
		if err == nil {
			err = txn.Commit()
		}
		txn.Discard()
		if err != nil {
			panic(fmt.Sprintf("raftfsm: apply log entries up to %d: %v (stopping: the state would diverge)", last, err))
		}
		f.head = head
		f.setApplied(last)
	}
	return resp
}

// batchCost is an upper bound of what b adds to a Badger transaction: per op its key, at
// most the value threshold inline (else a value pointer) and Badger's overhead; plus the
// journal entry, head and applied index.
func batchCost(b Batch) int {
	c := 400
	for _, op := range b.Ops {
		c += len(op.Key) + 88
	}
	return c
}

// applyBatch checks b's preconditions in txn and, when they hold, writes its ops and its
// journal entry chained to head. It returns the response for the proposer and the new head.
func applyBatch(txn *badger.Txn, index uint64, b Batch, head JournalHead) (any, JournalHead, error) {
	for _, c := range b.Conds {
		ver, err := versionOf(txn, c.Key)
		if err != nil {
			return nil, head, err
		}
		ok := false
		switch c.Kind {
		case CondAbsent:
			ok = ver == 0
		case CondPresent:
			ok = ver != 0
		case CondVersion:
			ok = ver != 0 && ver == c.Version
		}
		if !ok {
			return &ConflictError{Cond: cloneCond(c), Version: ver}, head, nil
		}
	}
	for _, op := range b.Ops {
		var err error
		if op.Kind == OpPut {
			err = txn.Set(op.Key, encodeValue(index, op.Value))
		} else {
			err = txn.Delete(op.Key)
		}
		if err != nil {
			return nil, head, fmt.Errorf("op on %s: %w", quoteKey(op.Key), err)
		}
	}
	e := Entry{
		Seq: head.Seq + 1, Index: index, Time: b.Audit.Time,
		Actor: b.Audit.Actor, Action: b.Audit.Action, Target: b.Audit.Target,
		Details: b.Audit.Details, PrevHash: head.Hash,
	}
	e.Hash = e.computeHash()
	next := JournalHead{Seq: e.Seq, Hash: e.Hash}
	if err := txn.Set(journalKey(e.Seq), encodeEntry(e)); err != nil {
		return nil, head, fmt.Errorf("journal entry %d: %w", e.Seq, err)
	}
	if err := txn.Set([]byte(keyHead), encodeHead(next)); err != nil {
		return nil, head, fmt.Errorf("journal head %d: %w", e.Seq, err)
	}
	return Result{Index: index, JournalSeq: e.Seq}, next, nil
}

// mustCommit runs fn and writes the applied index in one Badger transaction, then publishes
// the index. Any failure panics.
func (f *fsm) mustCommit(index uint64, fn func(*badger.Txn) error) {
	txn := f.cur.db.NewTransaction(true)
	defer txn.Discard()
	err := fn(txn)
	if err == nil {
		err = txn.Set([]byte(keyApplied), u64(index))
	}
	if err == nil {
		err = txn.Commit()
	}
	if err != nil {
		panic(fmt.Sprintf("raftfsm: apply log entry %d: %v (stopping: the state would diverge)", index, err))
	}
	f.setApplied(index)
}

func cloneCond(c Cond) Cond {
	c.Key = append([]byte(nil), c.Key...)
	return c
}

// encodeValue is how a user value is stored: its version, big-endian, then the value.
func encodeValue(version uint64, v []byte) []byte {
	b := make([]byte, 8+len(v))
	binary.BigEndian.PutUint64(b, version)
	copy(b[8:], v)
	return b
}

// versionOf returns the version of key, 0 when it is absent.
func versionOf(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", quoteKey(key), err)
	}
	var ver uint64
	err = item.Value(func(b []byte) error {
		if len(b) < 8 {
			return fmt.Errorf("value of %s: %d bytes", quoteKey(key), len(b))
		}
		ver = binary.BigEndian.Uint64(b)
		return nil
	})
	return ver, err
}

func itemOf(it *badger.Item) (Item, error) {
	v, err := it.ValueCopy(nil)
	if err != nil {
		return Item{}, err
	}
	if len(v) < 8 {
		return Item{}, fmt.Errorf("value of %s: %d bytes", quoteKey(it.Key()), len(v))
	}
	return Item{Key: it.KeyCopy(nil), Value: v[8:], Version: binary.BigEndian.Uint64(v)}, nil
}

// view runs fn in one read transaction of the current database.
func (f *fsm) view(fn func(txn *badger.Txn) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cur == nil {
		return ErrClosed
	}
	return f.cur.db.View(fn)
}

func (f *fsm) get(key []byte) (Item, error) {
	if len(key) == 0 || key[0] == 0x00 {
		return Item{}, fmt.Errorf("get %s: %w", quoteKey(key), ErrNotFound)
	}
	var out Item
	err := f.view(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("get %s: %w", quoteKey(key), ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", quoteKey(key), err)
		}
		out, err = itemOf(it)
		return err
	})
	return out, err
}

func (f *fsm) scan(prefix []byte, fn func(Item) error) error {
	if len(prefix) > 0 && prefix[0] == 0x00 {
		return nil // internal keys are not user items
	}
	return f.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = prefix
		opts.PrefetchValues = false // values may be MiBs: read one at a time
		it := txn.NewIterator(opts)
		defer it.Close()
		start := prefix
		if len(start) == 0 {
			start = []byte{0x01}
		}
		for it.Seek(start); it.Valid(); it.Next() {
			item, err := itemOf(it.Item())
			if err != nil {
				return fmt.Errorf("scan %s: %w", quoteKey(prefix), err)
			}
			if err := fn(item); err != nil {
				return err
			}
		}
		return nil
	})
}

// close closes Badger (or leaves that to the last snapshot's Release). It is idempotent.
func (f *fsm) close() error {
	var err error
	f.closeOnce.Do(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.cur != nil {
			err = f.cur.retire(false)
			f.cur = nil
		}
	})
	if err != nil {
		return fmt.Errorf("close fsm: %w", err)
	}
	return nil
}
