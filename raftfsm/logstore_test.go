package raftfsm

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openTestLogStore(t *testing.T, dir string) *LogStore {
	t.Helper()
	s, err := OpenLogStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func storeRange(t *testing.T, s *LogStore, from, to uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

func indexes(t *testing.T, s *LogStore) (uint64, uint64) {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}

func TestLogStoreEmpty(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	if first, last := indexes(t, s); first != 0 || last != 0 {
		t.Fatalf("empty store: first %d last %d, want 0 0", first, last)
	}
	var l raft.Log
	if err := s.GetLog(1, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog on empty store: %v, want exactly raft.ErrLogNotFound", err)
	}
}

func TestLogStoreRoundTrip(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, tc := range []struct {
		name string
		log  raft.Log
	}{
		{"every field", raft.Log{Index: 7, Term: 3, Type: raft.LogCommand, Data: []byte("data"), Extensions: []byte("ext"), AppendedAt: at}},
		{"zero time and empty data", raft.Log{Index: 8, Term: 3, Type: raft.LogNoop}},
		{"configuration", raft.Log{Index: 1 << 40, Term: 1 << 33, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{9}, 5000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.log
			if err := s.StoreLog(&in); err != nil {
				t.Fatal(err)
			}
			var out raft.Log
			if err := s.GetLog(in.Index, &out); err != nil {
				t.Fatal(err)
			}
			if out.Index != in.Index || out.Term != in.Term || out.Type != in.Type ||
				!bytes.Equal(out.Data, in.Data) || !bytes.Equal(out.Extensions, in.Extensions) ||
				!out.AppendedAt.Equal(in.AppendedAt) || out.AppendedAt.IsZero() != in.AppendedAt.IsZero() {
				t.Fatalf("got %+v, want %+v", out, in)
			}
		})
	}
	var l raft.Log
	if err := s.GetLog(9, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(missing): %v, want exactly raft.ErrLogNotFound", err)
	}
}

func TestLogStoreDeleteRange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		min, max    uint64
		first, last uint64
	}{
		{"head", 1, 3, 4, 10},
		{"tail", 8, 10, 1, 7},
		{"single", 5, 5, 1, 10},
		{"all", 1, 10, 0, 0},
		{"wider than the log", 0, 100, 0, 0},
		{"beyond the log", 11, 20, 1, 10},
		{"empty range", 6, 5, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestLogStore(t, t.TempDir())
			storeRange(t, s, 1, 10)
			if err := s.DeleteRange(tc.min, tc.max); err != nil {
				t.Fatal(err)
			}
			if first, last := indexes(t, s); first != tc.first || last != tc.last {
				t.Fatalf("after DeleteRange(%d, %d): first %d last %d, want %d %d", tc.min, tc.max, first, last, tc.first, tc.last)
			}
			for i := uint64(1); i <= 10; i++ {
				var l raft.Log
				err := s.GetLog(i, &l)
				deleted := i >= tc.min && i <= tc.max
				switch {
				case deleted && err != raft.ErrLogNotFound:
					t.Errorf("index %d deleted, GetLog: %v", i, err)
				case !deleted && err != nil:
					t.Errorf("index %d kept, GetLog: %v", i, err)
				}
			}
		})
	}
}

func TestStableStoreNotFound(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	v, err := s.Get([]byte("CurrentTerm"))
	if err != nil || len(v) != 0 {
		t.Fatalf("Get(missing) = %q, %v; want empty, nil", v, err)
	}
	n, err := s.GetUint64([]byte("LastVoteTerm"))
	if err != nil || n != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", n, err)
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("n"), 42); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get(k) = %q, %v", v, err)
	}
	if n, err := s.GetUint64([]byte("n")); err != nil || n != 42 {
		t.Fatalf("GetUint64(n) = %d, %v", n, err)
	}
}

func TestLogStoreReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	s, err := OpenLogStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 5, 9)
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = openTestLogStore(t, dir)
	if first, last := indexes(t, s); first != 5 || last != 9 {
		t.Fatalf("after reopen: first %d last %d, want 5 9", first, last)
	}
	if n, _ := s.GetUint64([]byte("CurrentTerm")); n != 7 {
		t.Fatalf("CurrentTerm after reopen = %d, want 7", n)
	}
}

func TestLogStoreLocked(t *testing.T) {
	dir := t.TempDir()
	openTestLogStore(t, dir)
	_, err := OpenLogStore(dir, testLogger(t))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestDecodeLogGarbage(t *testing.T) {
	good := encodeLog(&raft.Log{Index: 1, Term: 1, Data: []byte("x"), AppendedAt: time.Unix(1, 0)})
	for i := 0; i < len(good); i++ {
		var l raft.Log
		if err := decodeLog(good[:i], &l); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
}
