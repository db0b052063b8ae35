package raftfsm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// entryFormatV1 is the first byte of a stored journal entry: then canonical(e), PrevHash,
// Hash.
const entryFormatV1 = 1

// headDomain prefixes JournalHead.Bytes, so that a signature over a head can never be
// taken for a signature over anything else the cluster key signs.
const headDomain = "valise journal head v1\x00"

// Bytes is the canonical encoding of the head that HeadSigner signs: the ASCII string
// "valise journal head v1", a zero byte, Seq as 8 bytes big-endian, then the 32-byte Hash.
func (h JournalHead) Bytes() []byte {
	b := make([]byte, 0, len(headDomain)+40)
	b = append(b, headDomain...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	return append(b, h.Hash[:]...)
}

// canonical is the encoding of an entry's fields that its hash covers: Seq, Index and Time
// (Unix nanoseconds, two's complement) as 8 bytes big-endian each, then Actor, Action,
// Target and Details, each as a 4-byte big-endian length and its bytes.
func (e Entry) canonical() []byte {
	b := make([]byte, 0, 24+16+len(e.Actor)+len(e.Action)+len(e.Target)+len(e.Details))
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, e.Index)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, f := range [][]byte{[]byte(e.Actor), []byte(e.Action), []byte(e.Target), e.Details} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// computeHash returns SHA-256(PrevHash ‖ canonical(e)).
func (e Entry) computeHash() [32]byte {
	h := sha256.New()
	h.Write(e.PrevHash[:])
	h.Write(e.canonical())
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func encodeEntry(e Entry) []byte {
	c := e.canonical()
	b := make([]byte, 0, 1+len(c)+64)
	b = append(b, entryFormatV1)
	b = append(b, c...)
	b = append(b, e.PrevHash[:]...)
	return append(b, e.Hash[:]...)
}

func decodeEntry(buf []byte) (Entry, error) {
	var e Entry
	r := reader{b: buf}
	if v := r.byte(); v != entryFormatV1 {
		return e, fmt.Errorf("journal entry format %d", v)
	}
	e.Seq = r.u64()
	e.Index = r.u64()
	e.Time = time.Unix(0, int64(r.u64())).UTC()
	str := func() []byte {
		n := r.fixed(4)
		if r.err != nil {
			return nil
		}
		return r.fixed(int(binary.BigEndian.Uint32(n)))
	}
	e.Actor = string(str())
	e.Action = string(str())
	e.Target = string(str())
	if d := str(); len(d) > 0 {
		e.Details = append([]byte(nil), d...)
	}
	copy(e.PrevHash[:], r.fixed(32))
	copy(e.Hash[:], r.fixed(32))
	if r.err != nil {
		return e, fmt.Errorf("journal entry: %w", r.err)
	}
	if len(r.b) != 0 {
		return e, fmt.Errorf("journal entry: %d trailing bytes", len(r.b))
	}
	return e, nil
}

// journal calls fn for each entry from fromSeq on, in order, in one read transaction.
func (f *fsm) journal(fromSeq uint64, fn func(Entry) error) error {
	return f.view(func(txn *badger.Txn) error {
		return walkJournal(txn, fromSeq, fn)
	})
}

func walkJournal(txn *badger.Txn, fromSeq uint64, fn func(Entry) error) error {
	return walkEntries(txn, false, journalKey(fromSeq), fn)
}

// walkEntries calls fn for each journal entry from the key start on, in sequence order, or in
// reverse order with reverse.
func walkEntries(txn *badger.Txn, reverse bool, start []byte, fn func(Entry) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{0x00, journalTag}
	opts.PrefetchValues = false // values may be MiBs: read one at a time
	opts.Reverse = reverse
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		var e Entry
		err := item.Value(func(b []byte) error {
			var err error
			e, err = decodeEntry(b)
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: key %x: %w", errBadEntry, item.Key(), err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (f *fsm) journalHead() (JournalHead, error) {
	var h JournalHead
	err := f.view(func(txn *badger.Txn) error {
		var err error
		h, err = readHead(txn)
		return err
	})
	return h, err
}

// errStopWalk ends a journal walk early; errBadEntry wraps an entry that does not decode.
var (
	errStopWalk = errors.New("stop")
	errBadEntry = errors.New("undecodable journal entry")
)

// verify walks the whole chain in one read transaction: each entry must sit at its own
// sequence number, link to the previous hash and hash to what it stores, and the stored head
// must be the last entry.
func (f *fsm) verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	var broken error
	err := f.view(func(txn *badger.Txn) error {
		head, err := readHead(txn)
		if err != nil {
			return err
		}
		var prev [32]byte
		err = walkJournal(txn, 1, func(e Entry) error {
			want := rep.Head.Seq + 1
			if rep.Entries%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			switch {
			case e.Seq != want:
				rep.BrokenAt = want
				broken = fmt.Errorf("%w: entry %d missing (found %d next)", ErrJournalBroken, want, e.Seq)
			case e.PrevHash != prev:
				rep.BrokenAt = e.Seq
				broken = fmt.Errorf("%w: entry %d does not link to entry %d", ErrJournalBroken, e.Seq, e.Seq-1)
			case e.computeHash() != e.Hash:
				rep.BrokenAt = e.Seq
				broken = fmt.Errorf("%w: entry %d (%s by %s at raft index %d) does not match its hash",
					ErrJournalBroken, e.Seq, e.Action, e.Actor, e.Index)
			}
			if broken != nil {
				return errStopWalk
			}
			rep.Entries++
			rep.Head = JournalHead{Seq: e.Seq, Hash: e.Hash}
			prev = e.Hash
			return nil
		})
		if errors.Is(err, errBadEntry) {
			rep.BrokenAt = rep.Head.Seq + 1
			broken = fmt.Errorf("%w: entry %d: %w", ErrJournalBroken, rep.BrokenAt, err)
			return nil
		}
		if err != nil && !errors.Is(err, errStopWalk) {
			return err
		}
		if broken == nil && rep.Head != head {
			rep.BrokenAt = rep.Head.Seq + 1
			if head.Seq < rep.Head.Seq {
				rep.BrokenAt = head.Seq
			}
			broken = fmt.Errorf("%w: stored head %d does not match the last entry %d", ErrJournalBroken, head.Seq, rep.Head.Seq)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify journal: %w", err)
	}
	return rep, broken
}
