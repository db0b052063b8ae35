package raftfsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// The snapshot stream, version 1:
//
//	header: the 8 bytes "VALISNAP", then the version byte 1
//	record: 'r', key length (4 bytes BE), value length (4 bytes BE), key, value,
//	        CRC-32C (Castagnoli) of everything from 'r' to the value's end (4 bytes BE)
//	end:    'e', record count (8 bytes BE), CRC-32C of 'e' and the count (4 bytes BE)
//
// Records are every key of the FSM's Badger in key order (internal ones first: they start
// with 0x00), values as stored. Nothing may follow the end frame.
const (
	snapMagic     = "VALISNAP"
	snapVersion   = 1
	snapMaxKey    = 65000    // Badger's key limit
	snapMaxValue  = 40 << 20 // well above the largest value a valid batch can write
	snapBufferLen = 64 << 10
	restoreChunk  = 4 << 20 // bytes restored per Badger transaction
)

// castagnoli returns the CRC-32C table (crc32 builds it once).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// errBadSnapshot is wrapped by Restore for a stream that is not a valid snapshot.
var errBadSnapshot = errors.New("not a valid raftfsm snapshot")

// fsmSnapshot is a point-in-time view: one Badger read transaction, opened by Snapshot on
// the FSM goroutine, streamed by Persist, discarded by Release. It holds a reference on its
// generation, so a Restore meanwhile leaves that database open until Release.
type fsmSnapshot struct {
	gen     *dbGen
	txn     *badger.Txn
	release sync.Once
}

// Snapshot syncs the FSM's Badger to disk (so that Raft may then drop the log entries the
// snapshot covers: docs/dependencies.md, trap 2a) and opens one read transaction.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cur == nil {
		return nil, ErrClosed
	}
	if err := f.cur.db.Sync(); err != nil {
		return nil, fmt.Errorf("snapshot: sync fsm: %w", err)
	}
	f.cur.acquire()
	return &fsmSnapshot{gen: f.cur, txn: f.cur.db.NewTransaction(false)}, nil
}

// Persist streams every record of the transaction to sink; memory stays flat whatever the
// state's size.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(s.txn, sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

// Release discards the transaction. Raft calls it once the snapshot is persisted or given up.
func (s *fsmSnapshot) Release() {
	s.release.Do(func() {
		s.txn.Discard()
		s.gen.release()
	})
}

func writeSnapshot(txn *badger.Txn, w io.Writer) error {
	bw := bufio.NewWriterSize(w, snapBufferLen)
	if _, err := bw.WriteString(snapMagic); err != nil {
		return err
	}
	if err := bw.WriteByte(snapVersion); err != nil {
		return err
	}
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false // values may be MiBs: read one at a time
	it := txn.NewIterator(opts)
	defer it.Close()
	var count uint64
	var hdr [9]byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.Key()
		err := item.Value(func(val []byte) error {
			hdr[0] = 'r'
			binary.BigEndian.PutUint32(hdr[1:], uint32(len(key)))
			binary.BigEndian.PutUint32(hdr[5:], uint32(len(val)))
			crc := crc32.Update(0, castagnoli(), hdr[:])
			crc = crc32.Update(crc, castagnoli(), key)
			crc = crc32.Update(crc, castagnoli(), val)
			bw.Write(hdr[:])
			bw.Write(key)
			bw.Write(val)
			_, err := bw.Write(binary.BigEndian.AppendUint32(nil, crc))
			return err
		})
		if err != nil {
			return err
		}
		count++
	}
	var end [9]byte
	end[0] = 'e'
	binary.BigEndian.PutUint64(end[1:], count)
	bw.Write(end[:])
	if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(end[:], castagnoli()))); err != nil {
		return err
	}
	return bw.Flush()
}

// readSnapshot reads a snapshot stream and calls put for each record, in order. put owns
// the slices it is given. Any flaw gives an error wrapping errBadSnapshot.
func readSnapshot(r io.Reader, put func(key, val []byte) error) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errBadSnapshot, fmt.Sprintf(format, a...))
	}
	br := bufio.NewReaderSize(r, snapBufferLen)
	var head [9]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return bad("header: %v", err)
	}
	if string(head[:8]) != snapMagic {
		return bad("no %s header", snapMagic)
	}
	if head[8] != snapVersion {
		return bad("unknown version %d", head[8])
	}
	var count uint64
	var prev []byte
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(br, hdr[:1]); err != nil {
			return bad("record %d: %v (no end frame)", count, err)
		}
		switch hdr[0] {
		case 'e':
			var rest [12]byte
			if _, err := io.ReadFull(br, rest[:]); err != nil {
				return bad("end frame: %v", err)
			}
			copy(hdr[1:], rest[:8])
			if crc32.Checksum(hdr[:], castagnoli()) != binary.BigEndian.Uint32(rest[8:]) {
				return bad("end frame checksum")
			}
			if n := binary.BigEndian.Uint64(rest[:8]); n != count {
				return bad("end frame says %d records, read %d", n, count)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return bad("data after the end frame")
			}
			return nil
		case 'r':
		default:
			return bad("record %d: unknown frame %q", count, hdr[0])
		}
		if _, err := io.ReadFull(br, hdr[1:]); err != nil {
			return bad("record %d: %v", count, err)
		}
		klen, vlen := binary.BigEndian.Uint32(hdr[1:]), binary.BigEndian.Uint32(hdr[5:])
		if klen == 0 || klen > snapMaxKey || vlen > snapMaxValue {
			return bad("record %d: key %d bytes, value %d bytes", count, klen, vlen)
		}
		buf := make([]byte, int(klen)+int(vlen)+4)
		if _, err := io.ReadFull(br, buf); err != nil {
			return bad("record %d: %v", count, err)
		}
		key, val := buf[:klen:klen], buf[klen:klen+vlen:klen+vlen]
		crc := crc32.Update(crc32.Update(0, castagnoli(), hdr[:]), castagnoli(), buf[:klen+vlen])
		if crc != binary.BigEndian.Uint32(buf[klen+vlen:]) {
			return bad("record %d: checksum", count)
		}
		if prev != nil && string(key) <= string(prev) {
			return bad("record %d: keys out of order", count)
		}
		prev = key
		if err := put(key, val); err != nil {
			return err
		}
		count++
	}
}

// errStopRead ends readSnapshot early.
var errStopRead = errors.New("stop reading")

// snapshotApplied returns the FSM applied index a snapshot stream holds: its first record
// (0x00 'a' sorts before every other key), or 0 for a snapshot without one.
func snapshotApplied(r io.Reader) (uint64, error) {
	var applied uint64
	err := readSnapshot(r, func(k, v []byte) error {
		if string(k) == keyApplied && len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return errStopRead
	})
	if err != nil && !errors.Is(err, errStopRead) {
		return 0, err
	}
	return applied, nil
}

// Restore replaces the whole state with the snapshot in rc, atomically: it loads the stream
// into a new generation directory beside the live one, checks it, syncs and closes it, then
// makes it live by replacing CURRENT, reopens it, and swaps it in under the FSM's write lock.
// A bad stream leaves the live state untouched; a crash before CURRENT is replaced keeps the
// old generation, after it the new one (openFSM removes the other). A failure after CURRENT
// names the new generation stops the node (panic): the state on disk is no longer the one
// open.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	f.mu.RLock()
	if f.cur == nil {
		f.mu.RUnlock()
		return ErrClosed
	}
	gen := f.cur.gen + 1
	f.mu.RUnlock()
	dir := filepath.Join(f.root, strconv.FormatUint(gen, 10))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	records, err := buildRestoreDir(dir, rc, f.logger)
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := writeCurrent(f.root, gen); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	g, err := openGen(f.root, gen, f.logger)
	if err != nil {
		panic(fmt.Sprintf("raftfsm: restore: open the restored state: %v", err))
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(g.db); err != nil {
		panic(fmt.Sprintf("raftfsm: restore: %v", err))
	}
	old := f.cur
	f.cur = g
	if old == nil { // closed meanwhile
		f.cur = nil
		g.retire(false)
		return ErrClosed
	}
	old.retire(true)
	f.logger.Info("restored snapshot", attrRecords, records, attrApplied, f.applied.Load(),
		attrJournalSeq, f.head.Seq, attrTook, time.Since(start).Round(time.Millisecond))
	return nil
}

// buildRestoreDir loads a snapshot stream into a new Badger at dir, checks that its internal
// records make sense, syncs it and closes it.
func buildRestoreDir(dir string, r io.Reader, logger *slog.Logger) (uint64, error) {
	db, err := openBadger(dir, fsmProfile(), logger)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	// Plain transactions committed every restoreChunk bytes: Badger counts a value-log value
	// as a pointer against its transaction limit, so a WriteBatch would hold gigabytes of
	// values in memory before committing.
	txn := db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var records uint64
	pending := 0
	flush := func() error {
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
		txn = db.NewTransaction(true)
		pending = 0
		return nil
	}
	err = readSnapshot(r, func(k, v []byte) error {
		records++
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := flush(); err != nil {
				return err
			}
			err = txn.Set(k, v)
		}
		if err != nil {
			return fmt.Errorf("write record: %w", err)
		}
		if pending += len(k) + len(v); pending >= restoreChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	probe := &fsm{waitCh: make(chan struct{})}
	if err := probe.load(db); err != nil {
		return 0, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	if err := db.Sync(); err != nil {
		return 0, err
	}
	if err := db.Close(); err != nil {
		return 0, err
	}
	return records, nil
}

// stateHash returns the applied index and a SHA-256 over every record (key and value, each
// length-prefixed), both from one read transaction.
func (f *fsm) stateHash() (uint64, [32]byte, error) {
	var applied uint64
	var sum [32]byte
	err := f.view(func(txn *badger.Txn) error {
		var err error
		if applied, err = readApplied(txn); err != nil {
			return err
		}
		h := sha256.New()
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false // values may be MiBs: read one at a time
		it := txn.NewIterator(opts)
		defer it.Close()
		var n [4]byte
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			binary.BigEndian.PutUint32(n[:], uint32(len(item.Key())))
			h.Write(n[:])
			h.Write(item.Key())
			if err := item.Value(func(v []byte) error {
				binary.BigEndian.PutUint32(n[:], uint32(len(v)))
				h.Write(n[:])
				h.Write(v)
				return nil
			}); err != nil {
				return err
			}
		}
		h.Sum(sum[:0])
		return nil
	})
	return applied, sum, err
}
