package raftfsm

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBatchRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Batch
	}{
		{"one put", putBatch("a/1", "v")},
		{"delete", delBatch("a/1")},
		{"conds and ops", Batch{
			Conds: []Cond{{Kind: CondAbsent, Key: []byte("x")}, {Kind: CondVersion, Key: []byte("y"), Version: 1 << 50}, {Kind: CondPresent, Key: []byte("z")}},
			Ops:   []Op{{Kind: OpPut, Key: []byte("x"), Value: []byte{}}, {Kind: OpDelete, Key: []byte("y")}, {Kind: OpPut, Key: []byte("z"), Value: bytes.Repeat([]byte{0}, 1000)}},
			Audit: Audit{Time: time.Unix(-5, 7).UTC(), Actor: "é", Action: "a.b", Target: "t", Details: []byte(`{"k":1}`)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := EncodeBatch(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != 1 {
				t.Fatalf("format byte %d, want 1", data[0])
			}
			got, err := DecodeBatch(data)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.b
			for i := range want.Ops { // a decoded put always has a non-nil value
				if want.Ops[i].Kind == OpPut && want.Ops[i].Value == nil {
					want.Ops[i].Value = []byte{}
				}
			}
			if len(want.Audit.Details) == 0 {
				want.Audit.Details, got.Audit.Details = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			for i := 0; i < len(data); i++ {
				if _, err := DecodeBatch(data[:i]); !errors.Is(err, ErrBadCommand) {
					t.Fatalf("truncated to %d bytes: %v, want ErrBadCommand", i, err)
				}
			}
			if _, err := DecodeBatch(append(data, 0)); !errors.Is(err, ErrBadCommand) {
				t.Fatalf("trailing byte: %v, want ErrBadCommand", err)
			}
		})
	}
}

func TestBatchValidate(t *testing.T) {
	ok := putBatch("k", "v")
	with := func(f func(*Batch)) Batch {
		b := ok
		b.Ops = append([]Op(nil), ok.Ops...)
		f(&b)
		return b
	}
	many := make([]Op, MaxOps+1)
	for i := range many {
		many[i] = Op{Kind: OpDelete, Key: []byte("k")}
	}
	for _, tc := range []struct {
		name string
		b    Batch
		want string // "" for valid
	}{
		{"valid", ok, ""},
		{"no ops", with(func(b *Batch) { b.Ops = nil }), "no ops"},
		{"too many ops", with(func(b *Batch) { b.Ops = many }), "ops, at most"},
		{"max ops", with(func(b *Batch) { b.Ops = many[:MaxOps] }), ""},
		{"empty key", with(func(b *Batch) { b.Ops[0].Key = nil }), "empty key"},
		{"reserved key", with(func(b *Batch) { b.Ops[0].Key = []byte{0, 'a'} }), "reserved"},
		{"long key", with(func(b *Batch) { b.Ops[0].Key = bytes.Repeat([]byte("k"), MaxKeySize+1) }), "at most"},
		{"unknown op", with(func(b *Batch) { b.Ops[0].Kind = 9 }), "unknown kind"},
		{"unknown cond", with(func(b *Batch) { b.Conds = []Cond{{Kind: 0, Key: []byte("k")}} }), "unknown kind"},
		{"reserved cond key", with(func(b *Batch) { b.Conds = []Cond{{Kind: CondAbsent, Key: []byte{0}}} }), "reserved"},
		{"delete with value", with(func(b *Batch) { b.Ops[0] = Op{Kind: OpDelete, Key: []byte("k"), Value: []byte("v")} }), "delete with a value"},
		{"no action", with(func(b *Batch) { b.Audit.Action = "" }), "no audit action"},
		{"no time", with(func(b *Batch) { b.Audit.Time = time.Time{} }), "no audit time"},
		{"too large", with(func(b *Batch) { b.Ops[0].Value = make([]byte, MaxBatchSize) }), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeBatch(tc.b)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid batch: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidBatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidBatch saying %q", err, tc.want)
			}
		})
	}
}

func FuzzDecodeBatch(f *testing.F) {
	for _, b := range []Batch{putBatch("a", "b"), delBatch("x/y", Cond{Kind: CondVersion, Key: []byte("x/y"), Version: 3})} {
		data, err := EncodeBatch(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{1, 0, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x08})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		// What decodes and validates must encode back to the same bytes: one encoding.
		if b.Validate() == nil {
			again, err := EncodeBatch(b)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs:\n%x\n%x", again, data)
			}
		}
	})
}
