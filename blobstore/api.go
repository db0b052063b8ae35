// Package blobstore stores file bytes: it hashes, compresses, encrypts and erasure-codes them
// into shard files spread over disks, nodes and sites, reads them back from any k healthy shards,
// and heals and scrubs them. It knows nothing of users: a caller hands it bytes and a FileID and
// gets back a Manifest to commit in its metadata.
//
// This file is the package's public surface. See DESIGN.md beside it for the on-disk format and
// why it is built so.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// Errors returned by Store, Writer and Reader. Callers test them with errors.Is.
var (
	// ErrHealNeeded is wrapped by a partial success: a read that had to skip a missing or corrupt
	// shard, or a Commit that reached its write quorum without every shard. The bytes returned
	// are correct; the caller queues the file for Heal. The error is a *HealNeededError.
	ErrHealNeeded = errors.New("blobstore: heal needed")

	// ErrTooManyLost is wrapped when more than m shards of a stripe are missing or corrupt: the
	// stripe cannot be rebuilt. No byte of that stripe is returned. The error is a
	// *TooManyLostError naming the file, the stripe and the shards.
	ErrTooManyLost = errors.New("blobstore: too many shards lost")

	// ErrBadShard is wrapped when a shard file or a piece of it is refused: bad magic, version,
	// checksum, or a header naming another cluster, file, shard index, stripe or generation.
	// Readers treat such a shard as missing.
	ErrBadShard = errors.New("blobstore: bad shard")

	// ErrBadFormat is wrapped by UnmarshalBinary of Manifest and ResumeState for bytes that are
	// not a valid encoding.
	ErrBadFormat = errors.New("blobstore: malformed encoding")

	// ErrNoLayout is returned by AutoLayout and PlanLayout, and wrapped by Create and SetLayout,
	// when the cluster map cannot hold any layout that survives the loss of one failure domain,
	// when an explicit layout's spread cannot survive it, when the map has too few usable disks
	// for the layout, or too few up for a write quorum. Its text says why, for an operator.
	ErrNoLayout = errors.New("blobstore: no usable layout")

	// ErrDiskUnavailable is wrapped when a shard's disk is neither local nor reachable through
	// the Store's DiskSource (unknown, or its node is down); the shard counts as lost.
	ErrDiskUnavailable = errors.New("blobstore: disk unavailable")

	// ErrWriterDone is returned by Writer methods after Commit, Abort or Close.
	ErrWriterDone = errors.New("blobstore: writer finished")

	// ErrBadResumeState is wrapped by Resume for a state that does not belong to this store's
	// cluster, whose staged tail is missing or fails authentication, or whose shards cannot reach
	// the write quorum.
	ErrBadResumeState = errors.New("blobstore: unusable resume state")

	// ErrInvalidID is returned for a FileID that cannot name a shard file (see FileID).
	ErrInvalidID = errors.New("blobstore: invalid file ID")

	// ErrInvalidConfig is wrapped by Config.Validate.
	ErrInvalidConfig = errors.New("blobstore: invalid config")
)

// FileID names one stored file. It is chosen by the caller (a UUID, say) and must be 1 to
// MaxFileIDLen bytes of [A-Za-z0-9._-], not starting with a dot: it names shard files on disk.
type FileID string

// DiskID names one disk (a directory on a real disk) of the cluster; unique cluster-wide.
type DiskID string

// NodeID names one node of the cluster.
type NodeID string

// SiteID names one site (data centre) of the cluster.
type SiteID string

// MaxFileIDLen is the longest FileID accepted.
const MaxFileIDLen = 128

// Codec names the erasure code and matrix of the on-disk format. It is recorded in every
// Manifest and frozen: klauspost/reedsolomon v1.14.2 reedsolomon.New(k, m) with its default
// options builds a Vandermonde matrix made systematic; a Cauchy matrix would give other parity.
const CodecRSVandermonde = "rs-vandermonde-v1"

// FailureDomain is what the automatic layout must survive the loss of, one whole unit.
type FailureDomain int

// Failure domains, from the smallest.
const (
	// FailureDisk spreads shards over disks: any one disk may be lost.
	FailureDisk FailureDomain = iota
	// FailureNode spreads shards over nodes: any one node may be lost.
	FailureNode
	// FailureSite spreads shards over sites: any one site may be lost.
	FailureSite
	// FailureAuto follows the cluster map: site with 3 sites or more, node with 3 nodes or
	// more, else disk.
	FailureAuto
)

// String returns "disk", "node", "site" or "auto".
func (f FailureDomain) String() string {
	switch f {
	case FailureDisk:
		return "disk"
	case FailureNode:
		return "node"
	case FailureSite:
		return "site"
	case FailureAuto:
		return "auto"
	}
	return fmt.Sprintf("FailureDomain(%d)", int(f))
}

// MarshalText encodes the domain as its String, for config files.
func (f FailureDomain) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText parses "disk", "node", "site" or "auto", for config files.
func (f *FailureDomain) UnmarshalText(b []byte) error {
	v, err := ParseFailureDomain(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// ParseFailureDomain parses "disk", "node", "site" or "auto".
func ParseFailureDomain(s string) (FailureDomain, error) {
	switch s {
	case "auto":
		return FailureAuto, nil
	case "disk":
		return FailureDisk, nil
	case "node":
		return FailureNode, nil
	case "site":
		return FailureSite, nil
	}
	return 0, fmt.Errorf("%w: failure domain %q (want disk, node, site or auto)", ErrInvalidConfig, s)
}

// DiskState says whether placement may put new shards on a disk and reads may use it.
type DiskState int

// Disk states.
const (
	// DiskUp accepts new shards and serves reads.
	DiskUp DiskState = iota
	// DiskDraining serves reads but takes no new shards.
	DiskDraining
	// DiskDown neither: its shards count as lost. When every disk of its node is down (a node
	// away for a while), it still counts for the layout: a write may place a shard there,
	// which fails at once and is left for Heal, as long as the write quorum is up.
	DiskDown
)

// String returns "up", "draining" or "down".
func (s DiskState) String() string {
	switch s {
	case DiskUp:
		return "up"
	case DiskDraining:
		return "draining"
	case DiskDown:
		return "down"
	}
	return fmt.Sprintf("DiskState(%d)", int(s))
}

// ClusterMap is the placement input: every site, node and disk of the cluster with weights, free
// space and state. The caller builds it from its metadata; blobstore only reads it.
type ClusterMap struct {
	// Sites of the cluster; order does not matter (placement is by rendezvous hashing).
	Sites []Site
}

// Site is one data centre.
type Site struct {
	ID    SiteID
	Nodes []Node
}

// Node is one node of a site.
type Node struct {
	ID    NodeID
	Disks []DiskInfo
}

// DiskInfo describes one disk for placement.
type DiskInfo struct {
	ID DiskID
	// Weight scales the disk's share of new shards (its capacity, say); 0 means 1.
	Weight float64
	// FreeBytes is the free space; a disk with less than Config.MinFreeBytes takes no new shard.
	FreeBytes uint64
	// State says whether the disk takes new shards.
	State DiskState
}

// Layout is an erasure-code layout: K data and M parity shards per stripe.
type Layout struct {
	K, M int
}

// String returns "k+m", e.g. "4+2".
func (l Layout) String() string { return fmt.Sprintf("%d+%d", l.K, l.M) }

// ParseLayout parses "k+m"; "auto" is not a Layout (see Config.Layout).
func ParseLayout(s string) (Layout, error) {
	ks, ms, ok := strings.Cut(s, "+")
	k, err1 := strconv.Atoi(ks)
	m, err2 := strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || fmt.Sprintf("%d+%d", k, m) != s {
		return Layout{}, fmt.Errorf("%w: layout %q (want k+m)", ErrInvalidConfig, s)
	}
	l := Layout{K: k, M: m}
	if err := l.validate(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

// Limits of a Layout.
const (
	MaxDataShards   = 32
	MaxParityShards = 16
)

func (l Layout) validate() error {
	if l.K < 1 || l.K > MaxDataShards || l.M < 0 || l.M > MaxParityShards {
		return fmt.Errorf("%w: layout %d+%d out of range (1..%d + 0..%d)", ErrInvalidConfig, l.K, l.M, MaxDataShards, MaxParityShards)
	}
	return nil
}

// AutoLayout picks k+m for the cluster so that the loss of any one failure domain fd leaves
// every stripe readable (each domain holds at most m shards of a stripe) and, when the cluster
// is big enough, writable (the shards left still make a write quorum): 6 disks on one node give
// 4+2; 3 nodes of 2 disks, or 3 sites of 2 nodes, give 3+3 (two shards per domain); 2 nodes
// of 6 disks with FailureNode give 4+4 (readable only). See PlanLayout for what it survives.
// It returns an error wrapping ErrNoLayout when fewer than two domains have usable disks.
func AutoLayout(cm ClusterMap, fd FailureDomain) (Layout, error) { return autoLayout(cm, fd, 0) }

// DiskSource gives a Store the disks that are not its own: another node's disk reached over
// the cluster port. Disk is called for every shard file opened (by writes, reads, resumes,
// heals and deletes), from any goroutine, so it must be safe for concurrent use and must not
// block on the network: it returns a Disk whose calls do the I/O (and fail, when the node
// stops answering, as any failing disk does: the shard counts as lost). It returns an error
// wrapping ErrDiskUnavailable for a disk it does not know or whose node is known to be down,
// so that reads and writes skip it at once rather than wait for a timeout. The Store asks its
// own disks first: a DiskSource may return local disks too, or not.
type DiskSource interface {
	Disk(id DiskID) (Disk, error)
}

// KeyWrapper seals small secrets (a file's data key, a staged tail's one-time key) for storage in
// the caller's metadata. The keyring implements it with the cluster key. It is called from the
// goroutine of the Store method, may block, must be safe for concurrent use, and must bind the
// wrapped bytes to fileID (Unwrap of another file's wrapping fails).
type KeyWrapper interface {
	// Wrap seals plainKey for fileID. The returned bytes may be stored anywhere.
	Wrap(ctx context.Context, fileID FileID, plainKey []byte) ([]byte, error)
	// Unwrap returns the key that Wrap sealed for fileID, or an error if wrapped was not made
	// by Wrap for this fileID (or was altered).
	Unwrap(ctx context.Context, fileID FileID, wrapped []byte) ([]byte, error)
}

// Config configures a Store. The zero value is not valid: start from DefaultConfig.
type Config struct {
	// ClusterID is written in every shard file's header; a shard of another cluster is refused.
	ClusterID string `toml:"cluster_id"`
	// BlockSize is the plaintext size of a block, the unit of compression, sealing and range
	// reads (a stripe holds K blocks). Default 1 MiB; tests use small blocks. Frozen per file:
	// the Manifest records it.
	BlockSize int `toml:"block_size"`
	// Layout is "auto" (AutoLayout of the cluster map and FailureDomain) or "k+m": the initial
	// value of Store.SetLayout.
	Layout string `toml:"layout"`
	// FailureDomain is what the layout's spread survives the loss of; FailureAuto (the
	// default) follows the cluster map.
	FailureDomain FailureDomain `toml:"failure_domain"`
	// Workers is the number of goroutines per Writer (and per Get) that compress, seal and
	// erasure-code; 0 means min(GOMAXPROCS, 4). The SHA-256 of a put runs on one more.
	Workers int `toml:"workers"`
	// Compress enables zstd per block (stored raw when it saves less than 8 %).
	Compress bool `toml:"compress"`
	// MinFreeBytes is the free space below which placement gives a disk no new shard.
	MinFreeBytes uint64 `toml:"min_free_bytes"`
}

// DefaultConfig returns the defaults: 1 MiB blocks, auto layout, failure domain from the map,
// compression on.
func DefaultConfig() Config {
	return Config{
		ClusterID:     "valise",
		BlockSize:     1 << 20,
		Layout:        "auto",
		FailureDomain: FailureAuto,
		Compress:      true,
		MinFreeBytes:  64 << 20,
	}
}

// Limits of Config.BlockSize.
const (
	MinBlockSize = 16
	MaxBlockSize = 16 << 20
)

// Validate reports the first invalid field, wrapping ErrInvalidConfig.
func (c *Config) Validate() error {
	if c.ClusterID == "" || len(c.ClusterID) > 64 {
		return fmt.Errorf("%w: cluster ID must be 1 to 64 bytes", ErrInvalidConfig)
	}
	if c.BlockSize < MinBlockSize || c.BlockSize > MaxBlockSize {
		return fmt.Errorf("%w: block size %d out of [%d, %d]", ErrInvalidConfig, c.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if c.Layout != "auto" {
		if _, err := ParseLayout(c.Layout); err != nil {
			return err
		}
	}
	if c.FailureDomain < FailureDisk || c.FailureDomain > FailureAuto {
		return fmt.Errorf("%w: failure domain %d", ErrInvalidConfig, c.FailureDomain)
	}
	if c.Workers < 0 || c.Workers > 64 {
		return fmt.Errorf("%w: workers %d out of [0, 64]", ErrInvalidConfig, c.Workers)
	}
	return nil
}

func (c *Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return max(1, min(runtime.GOMAXPROCS(0), 4))
}

// GenRange says that stripes from FirstStripe on (up to the next range) were sealed under write
// generation Gen. Generations only grow along a file.
type GenRange struct {
	FirstStripe uint64
	Gen         uint32
}

// Manifest says where and how a file's bytes are stored. The caller commits it in its metadata
// (MarshalBinary is stable and versioned) and hands it back to read, heal, scrub or delete.
type Manifest struct {
	// FileID is the file's ID.
	FileID FileID
	// Size is the plaintext size in bytes.
	Size int64
	// SHA256 is the digest of the plaintext.
	SHA256 [32]byte
	// Layout is the erasure-code layout.
	Layout Layout
	// BlockSize is the plaintext block size.
	BlockSize int
	// Codec is the erasure code and matrix, CodecRSVandermonde.
	Codec string
	// Generations lists the write generation of every stripe, as ranges (see GenRange).
	Generations []GenRange
	// Shards gives the disk of each shard index (len K+M).
	Shards []DiskID
	// WrappedKey is the file's data key as wrapped by the KeyWrapper. Destroying it (in the
	// caller's metadata) makes the shards unreadable: crypto-shredding.
	WrappedKey []byte
}

// ResumeState is a durable point of a Writer, returned by Checkpoint, which the caller persists
// (MarshalBinary is stable and versioned) and hands to Resume. It holds no secret in clear: the
// keys in it are wrapped by the KeyWrapper.
//
// A state outlives the Commit of its file, until the caller releases it: Commit leaves the
// staged tails of the last two checkpoints, so that when the process dies after Commit but
// before the caller durably records the manifest, Resume from the recorded state, the same
// remaining bytes and Commit again give the same file. The caller's sequence is:
//
//	m, err := w.Commit(ctx)          // the last ResumeState is still recorded
//	record m in the metadata         // durably (Raft commit), replacing the ResumeState
//	s.ReleaseStaged(ctx, m)          // idempotent; a failure only leaves garbage
//
// After the record, the file must never be resumed. What ReleaseStaged did not get to
// (a crash, an error) is removed by Delete, by CleanStaged, or by a later ReleaseStaged;
// ListStaged reports it with StagedUpload.Committed set.
type ResumeState struct {
	// FileID is the file being written.
	FileID FileID
	// Offset is the number of plaintext bytes acknowledged: the next Write continues here.
	Offset int64
	// Layout, BlockSize and Shards are as in the Manifest.
	Layout    Layout
	BlockSize int
	Shards    []DiskID
	// WrappedKey is the file's data key, wrapped.
	WrappedKey []byte
	// Generation is the highest write generation used so far.
	Generation uint32
	// Generations are the ranges of the complete stripes, as in the Manifest.
	Generations []GenRange
	// Stripes is the number of complete stripes written and fsync'd.
	Stripes uint64
	// HashState is the marshalled SHA-256 state after the complete stripes.
	HashState []byte
	// StagedSeq names the staged tail (0: no tail); StagedLen is its plaintext length
	// (Offset - Stripes*K*BlockSize); StagedKey is its one-time key, wrapped.
	StagedSeq uint64
	StagedLen int
	StagedKey []byte
	// LostShards lists the shard indexes that failed before this state: Resume writes no more
	// to them and Commit reports them (ErrHealNeeded).
	LostShards []int
}

// HealReport says what Heal did to one file.
type HealReport struct {
	FileID FileID
	// Checked is the number of shard pieces read and verified.
	Checked int
	// Bad lists the shard indexes found missing or corrupt (in at least one stripe).
	Bad []int
	// Repaired counts pieces rewritten.
	Repaired int
	// Moved lists shard indexes rewritten on another disk (the returned Manifest changed).
	Moved []int
	// Remote lists shard indexes on other nodes' disks that the cluster map says are up but
	// that could not be reached now: neither checked nor used nor moved (rebuilding them
	// elsewhere would undo the spread over failure domains for a node away for a moment).
	// The file still needs a heal once they are back.
	Remote []int
}

// ScrubProgress is reported after each file scrubbed.
type ScrubProgress struct {
	FilesDone, FilesTotal int
	BytesDone             int64
	BadShards             int
}

// ScrubReport sums up a Scrub.
type ScrubReport struct {
	Files     int
	Healthy   int
	Healed    []HealReport
	Failed    map[FileID]error
	Manifests map[FileID]Manifest // manifests that changed (a shard moved): the caller commits them
}

// StagedUpload is an upload that left files on a local disk without a Commit (shard files being
// written, staged tails), or a committed file whose Commit left staged tails for a Resume that
// were not released yet (see Writer.Commit and Store.ReleaseStaged).
type StagedUpload struct {
	FileID FileID
	// Disks are the local disks holding the listed files.
	Disks []DiskID
	// Bytes is the size of the listed files (committed shards not counted).
	Bytes int64
	// Committed says that the file's shard files on the local disks are all committed
	// (".shard", none ".part"): only the leftovers of a finished Commit are listed. The caller
	// tells the two cases apart by its metadata: with the manifest recorded, ReleaseStaged
	// (or CleanStaged) drops them; with the upload's ResumeState still recorded, they are what
	// a Resume from it needs (a crash between Commit and the record): keep them. False for a
	// live or abandoned upload, and for a Commit cut short (some shards renamed, some not).
	Committed bool
}

// HealNeededError is the error of a partial success (see ErrHealNeeded).
type HealNeededError struct {
	FileID FileID
	// Shards are the shard indexes that were missing or corrupt.
	Shards []int
	// Causes holds one cause per shard, for logs.
	Causes []error
}

// Error names the file and the shards.
func (e *HealNeededError) Error() string {
	return fmt.Sprintf("file %s: shards %v missing or corrupt (heal needed): %v", e.FileID, e.Shards, errors.Join(e.Causes...))
}

// Unwrap makes errors.Is(err, ErrHealNeeded) hold.
func (e *HealNeededError) Unwrap() error { return ErrHealNeeded }

// TooManyLostError is the error of an unreadable stripe (see ErrTooManyLost).
type TooManyLostError struct {
	FileID FileID
	Stripe uint64
	// Lost are the shard indexes missing or corrupt in that stripe.
	Lost []int
	// M is the number of losses the layout survives.
	M      int
	Causes []error
}

// Error names the file, the stripe and the shards.
func (e *TooManyLostError) Error() string {
	return fmt.Sprintf("file %s stripe %d: shards %v lost, only %d may be: %v", e.FileID, e.Stripe, e.Lost, e.M, errors.Join(e.Causes...))
}

// Unwrap makes errors.Is(err, ErrTooManyLost) hold.
func (e *TooManyLostError) Unwrap() error { return ErrTooManyLost }

// The Store's methods (implemented in store.go, writer.go, reader.go, heal.go):
//
//	New(cfg Config, cmap ClusterMap, disks map[DiskID]Disk, remote DiskSource, keys KeyWrapper, logger *slog.Logger) (*Store, error)
//	(*Store).SetClusterMap(cmap ClusterMap)
//	(*Store).SetLayout(layout string) error   // "auto" or "k+m", for new files
//	(*Store).Plan() (LayoutPlan, error)        // the layout new files get, and what it survives
//	(*Store).Create(ctx, id FileID) (*Writer, error)
//	(*Store).Resume(ctx, st ResumeState) (*Writer, error)
//	(*Store).Put(ctx, id FileID, r io.Reader) (Manifest, error)
//	(*Store).Open(ctx, m Manifest) (*Reader, error)
//	(*Store).Get(ctx, m Manifest, w io.Writer, offset, length int64) error
//	(*Store).Heal(ctx, m Manifest) (Manifest, HealReport, error)
//	(*Store).Scrub(ctx, manifests []Manifest, progress func(ScrubProgress)) (ScrubReport, error)
//	(*Store).HealAvoiding(ctx, m Manifest, avoid []DiskID) (Manifest, HealReport, error)  // drain, failed disks
//	(*Store).Check(ctx, m Manifest, avoid []DiskID) ([]int, error)   // shards Heal would rebuild, pieces unread
//	(*Store).SetHealNeeded(fn func(FileID))   // told of every ErrHealNeeded
//	(*Store).Delete(ctx, m Manifest) error
//	(*Store).Misplaced(m Manifest) (string, error)   // why rebalance should rewrite m, "" if not
//	(*Store).Relayout(ctx, m Manifest, id FileID) (Manifest, error)   // rebalance: copy m as id, current layout
//	(*Store).Purge(ctx, id FileID) error   // remove a copy no manifest names
//	(*Store).ListStaged(ctx) ([]StagedUpload, error)
//	(*Store).CleanStaged(ctx, keep func(FileID) bool) error
//	(*Store).ReleaseStaged(ctx, m Manifest) error   // after m is durably recorded: drop Commit's leftovers
//	(*Store).Close() error
//
//	(*Writer).Write(p []byte) (int, error)
//	(*Writer).ReadFrom(r io.Reader) (int64, error)   // io.Copy(w, body) reads straight into stripes
//	(*Writer).Offset() int64
//	(*Writer).Checkpoint(ctx) (ResumeState, error)
//	(*Writer).Commit(ctx) (Manifest, error)
//	(*Writer).Abort(ctx) error
//	(*Writer).Close() error   // stop without removing anything: Resume later
//
//	(*Reader).Read, Seek, ReadAt, WriteTo, Size, HealNeeded() error, Close
//
//	NewDirDisk(id DiskID, path string) (Disk, error)
//	LocalClusterMap(ctx, site SiteID, node NodeID, disks map[DiskID]Disk) ClusterMap
//	PlanLayout(cm ClusterMap, layout string, fd FailureDomain, minFree uint64) (LayoutPlan, error)
