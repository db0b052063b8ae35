package raftfsm

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// batchFormatV1 is the first byte of an encoded Batch. The format is frozen: a new layout
// gets a new version byte, and DecodeBatch keeps reading every old one, because the Raft
// log and snapshots outlive the binary that wrote them.
//
// Version 1, after the version byte (uvarint = encoding/binary's unsigned varint, bytes =
// uvarint length then the bytes):
//
//	uvarint count of conds, each: kind byte, key bytes, version uvarint
//	uvarint count of ops, each:   kind byte, key bytes, and for OpPut the value bytes
//	audit: time as a zig-zag varint of Unix nanoseconds, actor, action, target, details (bytes each)
//
// and nothing after.
const batchFormatV1 = 1

// Validate checks b against the rules of a Batch; the error wraps ErrInvalidBatch and says
// which rule. It does not check the encoded size (EncodeBatch does).
func (b Batch) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidBatch, fmt.Sprintf(format, a...))
	}
	if len(b.Ops) == 0 {
		return bad("no ops")
	}
	if len(b.Ops) > MaxOps {
		return bad("%d ops, at most %d", len(b.Ops), MaxOps)
	}
	if len(b.Conds) > MaxConds {
		return bad("%d conds, at most %d", len(b.Conds), MaxConds)
	}
	for i, c := range b.Conds {
		if c.Kind != CondAbsent && c.Kind != CondVersion && c.Kind != CondPresent {
			return bad("cond %d: unknown kind %d", i, c.Kind)
		}
		if err := checkKey(c.Key); err != nil {
			return bad("cond %d: %v", i, err)
		}
	}
	for i, op := range b.Ops {
		if op.Kind != OpPut && op.Kind != OpDelete {
			return bad("op %d: unknown kind %d", i, op.Kind)
		}
		if err := checkKey(op.Key); err != nil {
			return bad("op %d: %v", i, err)
		}
		if op.Kind == OpDelete && len(op.Value) != 0 {
			return bad("op %d: delete with a value", i)
		}
	}
	if b.Audit.Action == "" {
		return bad("no audit action")
	}
	if b.Audit.Time.IsZero() {
		return bad("no audit time")
	}
	if y := b.Audit.Time.Year(); y < 1678 || y > 2261 { // what Unix nanoseconds can hold
		return bad("audit time %v out of range", b.Audit.Time)
	}
	return nil
}

func checkKey(k []byte) error {
	switch {
	case len(k) == 0:
		return fmt.Errorf("empty key")
	case k[0] == 0x00:
		return fmt.Errorf("key %s starts with the reserved byte 0x00", quoteKey(k))
	case len(k) > MaxKeySize:
		return fmt.Errorf("key %s is %d bytes, at most %d", quoteKey(k), len(k), MaxKeySize)
	}
	return nil
}

// EncodeBatch validates b and returns its version 1 encoding. The error wraps
// ErrInvalidBatch.
func EncodeBatch(b Batch) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	// raw counts the payload bytes; the encoding adds a few bytes per field.
	raw := len(b.Audit.Actor) + len(b.Audit.Action) + len(b.Audit.Target) + len(b.Audit.Details)
	for _, c := range b.Conds {
		raw += len(c.Key)
	}
	for _, op := range b.Ops {
		raw += len(op.Key) + len(op.Value)
	}
	if raw > MaxBatchSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidBatch, MaxBatchSize)
	}
	size := raw + 1 + 6*binary.MaxVarintLen64 + (len(b.Conds)+len(b.Ops))*(1+2*binary.MaxVarintLen64)
	out := make([]byte, 0, size)
	out = append(out, batchFormatV1)
	out = binary.AppendUvarint(out, uint64(len(b.Conds)))
	for _, c := range b.Conds {
		out = append(out, byte(c.Kind))
		out = appendBytes(out, c.Key)
		out = binary.AppendUvarint(out, c.Version)
	}
	out = binary.AppendUvarint(out, uint64(len(b.Ops)))
	for _, op := range b.Ops {
		out = append(out, byte(op.Kind))
		out = appendBytes(out, op.Key)
		if op.Kind == OpPut {
			out = appendBytes(out, op.Value)
		}
	}
	out = binary.AppendVarint(out, b.Audit.Time.UnixNano())
	out = appendBytes(out, []byte(b.Audit.Actor))
	out = appendBytes(out, []byte(b.Audit.Action))
	out = appendBytes(out, []byte(b.Audit.Target))
	out = appendBytes(out, b.Audit.Details)
	if len(out) > MaxBatchSize {
		return nil, fmt.Errorf("%w: %d bytes encoded, at most %d", ErrInvalidBatch, len(out), MaxBatchSize)
	}
	return out, nil
}

func appendBytes(out, b []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(b))), b...)
}

// DecodeBatch decodes an encoded batch. Keys, values and details alias data. Garbage gives
// an error wrapping ErrBadCommand, never a panic. It checks the structure and the kinds, not
// the other rules of Validate, so that a rule tightened later never makes an old log entry
// unreadable.
func DecodeBatch(data []byte) (Batch, error) {
	bad := func(format string, a ...any) (Batch, error) {
		return Batch{}, fmt.Errorf("%w: %s", ErrBadCommand, fmt.Sprintf(format, a...))
	}
	if len(data) == 0 {
		return bad("empty")
	}
	if len(data) > MaxBatchSize {
		return bad("%d bytes, at most %d", len(data), MaxBatchSize)
	}
	if data[0] != batchFormatV1 {
		return bad("unknown format version %d", data[0])
	}
	r := reader{b: data[1:]}
	var b Batch
	n := r.uvarint()
	if n > MaxConds || n > uint64(len(r.b)) {
		return bad("%d conds", n)
	}
	if n > 0 {
		b.Conds = make([]Cond, n)
	}
	for i := range b.Conds {
		c := &b.Conds[i]
		c.Kind = CondKind(r.byte())
		c.Key = r.bytes()
		c.Version = r.uvarint()
		if r.err == nil && c.Kind != CondAbsent && c.Kind != CondVersion && c.Kind != CondPresent {
			return bad("cond %d: unknown kind %d", i, c.Kind)
		}
	}
	n = r.uvarint()
	if n > MaxOps || n > uint64(len(r.b)) {
		return bad("%d ops", n)
	}
	if n > 0 {
		b.Ops = make([]Op, n)
	}
	for i := range b.Ops {
		op := &b.Ops[i]
		op.Kind = OpKind(r.byte())
		op.Key = r.bytes()
		switch op.Kind {
		case OpPut:
			op.Value = r.bytes()
		case OpDelete:
		default:
			if r.err == nil {
				return bad("op %d: unknown kind %d", i, op.Kind)
			}
		}
	}
	ns := r.varint()
	b.Audit.Time = time.Unix(0, ns).UTC()
	b.Audit.Actor = string(r.bytes())
	b.Audit.Action = string(r.bytes())
	b.Audit.Target = string(r.bytes())
	b.Audit.Details = r.bytes()
	if r.err != nil {
		return bad("%v", r.err)
	}
	if len(r.b) != 0 {
		return bad("%d trailing bytes", len(r.b))
	}
	if ns == math.MinInt64 {
		return bad("audit time out of range")
	}
	return b, nil
}

// String returns "put", "delete", or the number of an unknown kind.
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// String returns "absent", "version", "present", or the number of an unknown kind.
func (k CondKind) String() string {
	switch k {
	case CondAbsent:
		return "absent"
	case CondVersion:
		return "version"
	case CondPresent:
		return "present"
	}
	return fmt.Sprintf("CondKind(%d)", uint8(k))
}
