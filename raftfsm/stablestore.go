package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// The stable store half of LogStore: Raft's current term, last vote and the like, under the
// 's' prefix of the same Badger directory.

func stableKey(key []byte) []byte {
	k := make([]byte, 0, 1+len(key))
	return append(append(k, stablePrefix), key...)
}

// Set stores val under key, synced.
func (s *LogStore) Set(key, val []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stableKey(key), append([]byte(nil), val...))
	})
	if err != nil {
		return fmt.Errorf("stable set %q: %w", key, err)
	}
	return nil
}

// Get returns the value of key; a missing key gives an empty value and a nil error, which is
// what raft expects of a fresh store (docs/dependencies.md, trap 1).
func (s *LogStore) Get(key []byte) ([]byte, error) {
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stable get %q: %w", key, err)
	}
	return val, nil
}

// SetUint64 stores val under key, big-endian, synced.
func (s *LogStore) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 returns the value of key; a missing key gives 0 and a nil error.
func (s *LogStore) GetUint64(key []byte) (uint64, error) {
	val, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(val) == 0 {
		return 0, nil
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("stable get %q: %d bytes, want 8", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}
