package raftfsm

import "github.com/dgraph-io/badger/v4"

// Reading the journal for the administrators' console (issue 20): newest first, a page at a
// time, and woken as new entries are applied.

// JournalBackward calls fn for each journal entry with Seq below beforeSeq (every entry when
// beforeSeq is 0), newest first, from one read transaction. An error from fn stops the walk
// and is returned as is.
func (s *Store) JournalBackward(beforeSeq uint64, fn func(Entry) error) error {
	if s.isClosed() {
		return ErrClosed
	}
	if beforeSeq == 1 {
		return nil // nothing comes before the first entry
	}
	start := journalKey(^uint64(0))
	if beforeSeq > 0 {
		start = journalKey(beforeSeq - 1)
	}
	return s.fsm.view(func(txn *badger.Txn) error { return walkEntries(txn, true, start, fn) })
}

// Changed returns a channel closed at the next change of the local state (the applied index
// grows). A watcher takes it, reads what it needs, then waits on it: a change between the
// read and the wait closes the channel it holds, so none is missed.
func (s *Store) Changed() <-chan struct{} { return s.fsm.changed() }
