// Package raftfsm replicates Valise's metadata: generic, versioned batches of key changes with
// preconditions, applied exactly once on Badger through hashicorp/raft, each carrying the audit
// entry that goes into a hash-chained journal. It knows no users, sends or files: domain packages
// encode their own records under their own key prefix and decide on the leader; raftfsm records.
//
// This file is the package's public surface. See DESIGN.md beside it for why it is built so.
package raftfsm

import (
	"errors"
	"time"

	"valise/fault"
)

// Errors returned by Store. Callers test them with errors.Is.
//
// The three "not now" errors, ErrNotLeader, ErrNoLeader and ErrClosed, have the kind
// fault.Unavailable and the code "unavailable": wrapped by a domain package as any other error,
// they reach the front ends as "retry later" (503) without the front ends importing raftfsm
// (issue 17 item 2). The others have no kind: to a front end they are internal errors, and a
// domain package translates those it expects (ErrConflict) into its own.
var (
	// ErrConflict is returned by Propose when a precondition of the batch failed at Apply time.
	// Nothing of the batch was applied. The error is a *ConflictError naming the key.
	ErrConflict = errors.New("raftfsm: precondition failed")

	// ErrNotLeader is returned by Propose, ReadIndex, AddVoter, RemoveServer and
	// LinearizableRead when this node is not the leader and the call cannot be served here: a
	// follower without Deps.Forward (or Deps.ReadIndex) serves neither writes nor linearizable
	// reads, and a forwarded Propose gives it when the node it reached no longer leads (nothing
	// was proposed: the caller retries).
	ErrNotLeader = fault.New(fault.Unavailable, fault.UnavailableCode, "raftfsm: not the leader")

	// ErrNoLeader is returned by LinearizableRead, and by Propose with Deps.Forward, on a
	// follower that knows no leader (it is partitioned from the majority, or an election is
	// under way) or cannot reach it.
	ErrNoLeader = fault.New(fault.Unavailable, fault.UnavailableCode, "raftfsm: no leader known")

	// ErrNotFound is returned by Get for a key that has no value.
	ErrNotFound = errors.New("raftfsm: key not found")

	// ErrClosed is returned by every method after Close (Status then reports "Shutdown").
	ErrClosed = fault.New(fault.Unavailable, fault.UnavailableCode, "raftfsm: store closed")

	// ErrBadCommand is wrapped by DecodeBatch for bytes that are not a valid encoded batch.
	ErrBadCommand = errors.New("raftfsm: malformed command")

	// ErrInvalidBatch is returned by Propose, before anything is proposed, for a batch that
	// breaks the rules of Batch.Validate (empty, a reserved or too long key, too large, an
	// unknown kind, no audit action or time).
	ErrInvalidBatch = errors.New("raftfsm: invalid batch")

	// ErrJournalBroken is wrapped by VerifyJournal when the chain does not hold.
	ErrJournalBroken = errors.New("raftfsm: journal chain broken")

	// ErrLocked is wrapped by Open when another process (another node) holds one of the
	// Badger directories under Config.Dir.
	ErrLocked = errors.New("raftfsm: data directory in use")

	// ErrOutcomeUnknown is wrapped by Propose when the batch was handed to Raft but its fate is
	// not known: leadership was lost, the store shut down, or ctx ended while it was in flight.
	// The batch may still commit; the caller re-reads before retrying.
	ErrOutcomeUnknown = errors.New("raftfsm: outcome of the proposal unknown")

	// ErrNoSigner is returned by SignedHead when the Store was opened without a HeadSigner.
	ErrNoSigner = errors.New("raftfsm: no journal head signer")
)

// Limits of a Batch, checked by Batch.Validate (and so by Propose and EncodeBatch).
const (
	// MaxOps is the largest number of Ops in a batch.
	MaxOps = 4096
	// MaxConds is the largest number of Conds in a batch.
	MaxConds = 4096
	// MaxKeySize is the longest key, in bytes. It bounds what a batch adds to a Badger
	// transaction (keys always stay in the LSM tree), so that any valid batch commits in one.
	MaxKeySize = 512
	// MaxBatchSize is the largest encoded batch, in bytes.
	MaxBatchSize = 16 << 20
)

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpPut sets Key to Value.
	OpPut OpKind = 1
	// OpDelete removes Key; deleting a missing key is not an error.
	OpDelete OpKind = 2
)

// Op is one change of a batch. Keys are opaque bytes chosen by the domain package, which
// prefixes them with its own name ("account/", "transfer/"); a key starting with 0x00 is
// reserved for raftfsm itself.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // nil for OpDelete
}

// CondKind says what a Cond requires.
type CondKind uint8

const (
	// CondAbsent requires Key to have no value.
	CondAbsent CondKind = 1
	// CondVersion requires Key to exist at exactly Version.
	CondVersion CondKind = 2
	// CondPresent requires Key to exist, at any version.
	CondPresent CondKind = 3
)

// Cond is a precondition of a batch, checked at Apply time against the state the batch
// would change, like an etcd transaction's compare.
type Cond struct {
	Kind    CondKind
	Key     []byte
	Version uint64 // for CondVersion
}

// Audit is the journal entry that travels with a batch. The proposer fills every field, the
// time included: Apply never reads the clock.
type Audit struct {
	Time    time.Time // when the action was decided, on the leader
	Actor   string    // who: a user ID, "system", "cli"
	Action  string    // what, dotted: "user.add", "send.revoke"
	Target  string    // on what: an ID
	Details []byte    // domain-defined, usually JSON; never secrets
}

// Batch is the one command kind of the replicated log: all Conds hold and all Ops apply, with
// Audit appended to the journal, or nothing happens. Limits: at least one Op, at most 4096 Ops
// and 4096 Conds, keys of 1 to 512 bytes not starting with 0x00, 16 MiB encoded; Audit needs
// an Action and a Time.
type Batch struct {
	Conds []Cond
	Ops   []Op
	Audit Audit
}

// Item is a key's value as stored, with the version it was written at: the Raft index of the
// batch that last put it. Versions only grow.
type Item struct {
	Key     []byte
	Value   []byte
	Version uint64
}

// Result is what a committed batch returns to its proposer.
type Result struct {
	Index      uint64 // the Raft index of the batch; the Version of every key it put
	JournalSeq uint64 // the sequence number of its journal entry, from 1
}

// ConflictError says which precondition failed. errors.Is(err, ErrConflict) is true.
type ConflictError struct {
	Cond    Cond
	Version uint64 // the key's version at Apply time, 0 if absent
}

func (e *ConflictError) Error() string {
	return "raftfsm: precondition failed on key " + quoteKey(e.Cond.Key)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Entry is one journal entry as stored: the Audit of a batch, where it landed, and the chain.
// Hash = SHA-256 over PrevHash and the canonical encoding of every other field.
type Entry struct {
	Seq      uint64
	Index    uint64 // Raft index of the batch
	Time     time.Time
	Actor    string
	Action   string
	Target   string
	Details  []byte
	PrevHash [32]byte
	Hash     [32]byte
}

// JournalHead is the newest link of the chain, which the cluster signing key signs.
type JournalHead struct {
	Seq  uint64
	Hash [32]byte
}

// HeadSigner signs the journal head. keyring provides the cluster's Ed25519 key behind it.
type HeadSigner interface {
	// SignHead returns a signature over head's canonical encoding (JournalHead.Bytes). It is
	// called from any goroutine and must not block on the store.
	SignHead(head JournalHead) ([]byte, error)
}

// VerifyReport is what VerifyJournal found.
type VerifyReport struct {
	Entries uint64      // entries walked
	Head    JournalHead // the last good link
	// BrokenAt is the first entry whose link does not hold, 0 if the chain holds.
	BrokenAt uint64
}

func quoteKey(k []byte) string {
	const max = 64
	if len(k) > max {
		return quoteBytes(k[:max]) + "…"
	}
	return quoteBytes(k)
}

func quoteBytes(b []byte) string {
	out := make([]byte, 0, len(b)+2)
	out = append(out, '"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			out = append(out, c)
			continue
		}
		const hex = "0123456789abcdef"
		out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
	}
	return string(append(out, '"'))
}
