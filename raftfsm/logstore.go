package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Key space of the Raft store's Badger directory.
const (
	logPrefix    = 'l' // 'l' + big-endian index → encoded raft.Log
	stablePrefix = 's' // 's' + key → value
)

// logEncodingV1 is the first byte of an encoded raft.Log.
const logEncodingV1 = 1

// LogStore is Raft's log store and stable store on one Badger directory with SyncWrites on:
// when a method returns nil, what it wrote survives a power loss. It implements
// raft.LogStore and raft.StableStore; all methods are safe for concurrent use.
type LogStore struct {
	db     *badger.DB
	gc     *valueLogGC
	logger *slog.Logger

	mu     sync.Mutex // guards closed
	closed bool
}

var (
	_ raft.LogStore    = (*LogStore)(nil)
	_ raft.StableStore = (*LogStore)(nil)
)

// OpenLogStore opens (creating it if needed) the Raft store in dir. It fails with an error
// wrapping ErrLocked when another process holds dir.
func OpenLogStore(dir string, logger *slog.Logger) (*LogStore, error) {
	logger = logger.With(attrComponent, "raftfsm.logstore")
	db, err := openBadger(dir, logProfile(), logger)
	if err != nil {
		return nil, err
	}
	return &LogStore{db: db, gc: startValueLogGC(db, 5*time.Minute, logger), logger: logger}, nil
}

// Close stops the value log collector and closes Badger. It is idempotent.
func (s *LogStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.gc.Stop()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close raft store: %w", err)
	}
	return nil
}

func logKey(index uint64) []byte {
	k := make([]byte, 9)
	k[0] = logPrefix
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// FirstIndex returns the first index written, 0 for an empty log.
func (s *LogStore) FirstIndex() (uint64, error) {
	return s.edgeIndex(false)
}

// LastIndex returns the last index written, 0 for an empty log.
func (s *LogStore) LastIndex() (uint64, error) {
	return s.edgeIndex(true)
}

func (s *LogStore) edgeIndex(last bool) (uint64, error) {
	var idx uint64
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte{logPrefix}
		opts.Reverse = last
		it := txn.NewIterator(opts)
		defer it.Close()
		if last {
			it.Seek([]byte{logPrefix, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		} else {
			it.Seek([]byte{logPrefix})
		}
		if it.Valid() {
			k := it.Item().Key()
			if len(k) != 9 {
				return fmt.Errorf("raft store: bad log key %x", k)
			}
			idx = binary.BigEndian.Uint64(k[1:])
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("raft store index: %w", err)
	}
	return idx, nil
}

// GetLog reads the entry at index into log; it returns exactly raft.ErrLogNotFound when
// there is none.
func (s *LogStore) GetLog(index uint64, log *raft.Log) error {
	var buf []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logKey(index))
		if err != nil {
			return err
		}
		buf, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("get log %d: %w", index, err)
	}
	if err := decodeLog(buf, log); err != nil {
		return fmt.Errorf("get log %d: %w", index, err)
	}
	return nil
}

// StoreLog writes one entry.
func (s *LogStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs writes entries, in one synced transaction when they fit Badger's transaction
// limit, in several otherwise (in order: a crash leaves a prefix, which Raft handles).
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, l := range logs {
		e := badger.NewEntry(logKey(l.Index), encodeLog(l))
		err := txn.SetEntry(e)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("store logs: %w", err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.SetEntry(e)
		}
		if err != nil {
			return fmt.Errorf("store log %d: %w", l.Index, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store logs: %w", err)
	}
	return nil
}

// DeleteRange deletes the entries from min to max, both included.
func (s *LogStore) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte{logPrefix}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(logKey(min)); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if binary.BigEndian.Uint64(k[1:]) > max {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete logs %d-%d: %w", min, max, err)
	}
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, k := range keys {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("delete logs %d-%d: %w", min, max, err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Delete(k)
		}
		if err != nil {
			return fmt.Errorf("delete logs %d-%d: %w", min, max, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("delete logs %d-%d: %w", min, max, err)
	}
	return nil
}

// encodeLog encodes every field of a raft.Log: version, index, term, type, data,
// extensions, AppendedAt (0 for the zero time, else Unix nanoseconds + 1 flag).
func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+1+len(l.Data)+len(l.Extensions)+10)
	b = append(b, logEncodingV1)
	b = binary.AppendUvarint(b, l.Index)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	b = append(b, l.Extensions...)
	if l.AppendedAt.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, l.AppendedAt.UnixNano())
	}
	return b
}

// decodeLog decodes buf into l; l.Data and l.Extensions alias buf.
func decodeLog(buf []byte, l *raft.Log) error {
	r := reader{b: buf}
	if v := r.byte(); v != logEncodingV1 {
		return fmt.Errorf("log encoding version %d", v)
	}
	l.Index = r.uvarint()
	l.Term = r.uvarint()
	l.Type = raft.LogType(r.byte())
	l.Data = r.bytes()
	l.Extensions = r.bytes()
	l.AppendedAt = time.Time{}
	if r.byte() == 1 {
		l.AppendedAt = time.Unix(0, r.varint())
	}
	if r.err != nil {
		return fmt.Errorf("decode log: %w", r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("decode log: %d trailing bytes", len(r.b))
	}
	return nil
}
