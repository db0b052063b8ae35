package transfer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"valise/raftfsm"
	"valise/userid"
)

// Upload leases (issue 18): with several nodes, the tus upload URL works on any of them, so two
// nodes could resume the same upload at once, and a node reading stale shard headers could
// seal bytes under a write generation already used (a (key, nonce) reuse breaks AES-GCM). A
// node therefore writes an upload only while it holds the upload's lease, a record in Raft
// beside the upload's:
//
//   - AcquireLease names the holder (a node ID), an expiry, and claims the next write
//     generation: the record's generation only grows, and the byte store resumes at a
//     generation at least the claimed one (blobstore.AtLeastGeneration). Another holder's
//     live lease is refused with ErrLocked (tus: 423, which tus clients retry); an expired one
//     is taken over (its holder died: kill -9).
//   - The holder renews it while it writes (RenewLease), records progress and completes under
//     it (RecordProgressLeased, CompleteUploadLeased: refused with ErrLocked once another
//     holder took it, so a stale holder's late record never lands), and releases it when it
//     closes its writer (ReleaseLease). CompleteUpload and the drops delete it with the upload.
//   - Each acquisition bumps the lease's epoch: a holder's Lease value names its acquisition,
//     so a node that took a lease back after a restart fences its own earlier writer too.

// Lease is an upload's lease as its holder last acquired or renewed it.
type Lease struct {
	Upload FileID
	// Holder is the node holding it.
	Holder string
	// Epoch counts the acquisitions of the upload's lease, from 1: it names this one.
	Epoch uint64
	// Gen is the highest write generation claimed for the upload: the byte store resumes at a
	// generation at least this one, and every generation it uses is claimed first.
	Gen uint32
	// Expires is when another node may take the lease over, by the deciding node's clock.
	Expires time.Time
}

// leaseRecord is the stored lease of an upload, under leaseKey. It stays after a release (with
// no holder) so that generations keep growing, and goes with the upload.
type leaseRecord struct {
	Holder  string    `json:"holder,omitempty"` // "" once released
	Epoch   uint64    `json:"epoch"`
	Gen     uint32    `json:"gen"`
	Expires time.Time `json:"expires,omitzero"`
}

const prefixLease = "transfer/lease/"

func leaseKey(id FileID) []byte { return []byte(prefixLease + string(id)) }

// MaxLeaseTTL bounds the lifetime a lease is given.
const MaxLeaseTTL = time.Hour

// AcquireLease makes holder the writer of owner's upload id for ttl and claims a write
// generation above every one claimed before, and at least atLeast (the caller passes what its
// resume state used, plus one). It returns ErrUploadNotFound, ErrUploadExpired, or ErrLocked
// while another holder's lease is live; holder's own lease (a restart) is taken back at once.
func (s *Service) AcquireLease(ctx context.Context, owner userid.ID, id FileID, holder string, ttl time.Duration, atLeast uint32) (Lease, error) {
	if holder == "" || ttl <= 0 || ttl > MaxLeaseTTL {
		return Lease{}, fmt.Errorf("acquire lease of %s: holder %q, ttl %v out of (0, %v]", id, holder, ttl, MaxLeaseTTL)
	}
	var l Lease
	_, err := s.change(ctx, "acquire lease of "+string(id), func() (raftfsm.Batch, error) {
		up, err := s.ownUpload(owner, id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		rec, ver, err := s.leaseRecord(id)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if rec.Holder != "" && rec.Holder != holder && now.Before(rec.Expires) {
			return raftfsm.Batch{}, fmt.Errorf("upload %s: %w: written on node %s (lease until %s)", id, ErrLocked, rec.Holder, rec.Expires.Format(time.RFC3339))
		}
		if rec.Gen == math.MaxUint32 {
			return raftfsm.Batch{}, fmt.Errorf("acquire lease of %s: write generations exhausted", id)
		}
		took := rec.Holder
		rec = leaseRecord{Holder: holder, Epoch: rec.Epoch + 1, Gen: max(rec.Gen+1, atLeast), Expires: now.Add(ttl)}
		l = Lease{Upload: id, Holder: holder, Epoch: rec.Epoch, Gen: rec.Gen, Expires: rec.Expires}
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondVersion, Key: uploadKey(id), Version: up.Version}, condVersion(leaseKey(id), ver)},
			Ops:   []raftfsm.Op{put(leaseKey(id), rec)},
			Audit: audit(now, string(owner), "upload.lease", string(id), map[string]any{"node": holder, "epoch": rec.Epoch, "generation": rec.Gen, "previous": took}),
		}, nil
	})
	if err != nil {
		return Lease{}, err
	}
	return l, nil
}

// RenewLease pushes l's expiry to ttl from now; ClaimGeneration also raises its generation.
// Both return ErrLocked (wrapped) when l is no longer the upload's lease (another node took it
// over, or the upload is gone: then the error wraps ErrUploadNotFound too), and the lease
// renewed.
func (s *Service) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	return s.updateLease(ctx, "renew", l, ttl, 0)
}

// ClaimGeneration claims write generation gen or above for l's holder (the byte store resumed
// at a higher generation than l claimed: its shard headers knew one) before a byte is sealed
// under it. It keeps l's expiry. Errors as RenewLease's.
func (s *Service) ClaimGeneration(ctx context.Context, l Lease, gen uint32) (Lease, error) {
	return s.updateLease(ctx, "claim generation", l, 0, gen)
}

func (s *Service) updateLease(ctx context.Context, what string, l Lease, ttl time.Duration, gen uint32) (Lease, error) {
	if ttl < 0 || ttl > MaxLeaseTTL {
		return Lease{}, fmt.Errorf("%s of %s: ttl %v out of (0, %v]", what, l.Upload, ttl, MaxLeaseTTL)
	}
	_, err := s.change(ctx, what+" of lease "+string(l.Upload), func() (raftfsm.Batch, error) {
		rec, ver, err := s.heldLease(l)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		now := s.clock()
		if ttl > 0 {
			rec.Expires = now.Add(ttl)
		}
		rec.Gen = max(rec.Gen, gen)
		l.Gen, l.Expires = rec.Gen, rec.Expires
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{{Kind: raftfsm.CondPresent, Key: uploadKey(l.Upload)}, condVersion(leaseKey(l.Upload), ver)},
			Ops:   []raftfsm.Op{put(leaseKey(l.Upload), rec)},
			Audit: audit(now, "system", "upload.lease."+what, string(l.Upload), map[string]any{"node": l.Holder, "epoch": l.Epoch, "generation": rec.Gen}),
		}, nil
	})
	if err != nil {
		return Lease{}, err
	}
	return l, nil
}

// ReleaseLease ends l so that another node may write the upload at once; the lease's generation
// stays claimed. A lease already gone (taken over, the upload completed or dropped) is no
// error.
func (s *Service) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := s.change(ctx, "release lease of "+string(l.Upload), func() (raftfsm.Batch, error) {
		rec, ver, err := s.heldLease(l)
		if err != nil {
			return raftfsm.Batch{}, errSkip
		}
		rec.Holder, rec.Expires = "", time.Time{}
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(leaseKey(l.Upload), ver)},
			Ops:   []raftfsm.Op{put(leaseKey(l.Upload), rec)},
			Audit: audit(s.clock(), "system", "upload.lease.release", string(l.Upload), map[string]any{"node": l.Holder, "epoch": l.Epoch}),
		}, nil
	})
	return skipped(err)
}

// GetLease returns upload id's lease as recorded in the local state (Holder "" when released,
// a zero Lease when none was ever taken), for tests and status.
func (s *Service) GetLease(id FileID) (Lease, error) {
	rec, _, err := s.leaseRecord(id)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Upload: id, Holder: rec.Holder, Epoch: rec.Epoch, Gen: rec.Gen, Expires: rec.Expires}, nil
}

// leaseRecord reads id's lease record and its version (0 and a zero record when absent).
func (s *Service) leaseRecord(id FileID) (leaseRecord, uint64, error) {
	var rec leaseRecord
	ver, err := s.getJSON(leaseKey(id), &rec)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return leaseRecord{}, 0, nil
	}
	if err != nil {
		return leaseRecord{}, 0, fmt.Errorf("read lease of %s: %w", id, err)
	}
	return rec, ver, nil
}

// heldLease reads the lease record that l names: an error wrapping ErrLocked when the record
// moved to another acquisition or is gone.
func (s *Service) heldLease(l Lease) (leaseRecord, uint64, error) {
	rec, ver, err := s.leaseRecord(l.Upload)
	if err != nil {
		return leaseRecord{}, 0, err
	}
	if ver == 0 {
		return leaseRecord{}, 0, fmt.Errorf("upload %s: %w: %w: its lease is gone", l.Upload, ErrLocked, ErrUploadNotFound)
	}
	if rec.Holder != l.Holder || rec.Epoch != l.Epoch {
		return leaseRecord{}, 0, fmt.Errorf("upload %s: %w: lease %d of node %s passed to %d of node %q", l.Upload, ErrLocked, l.Epoch, l.Holder, rec.Epoch, rec.Holder)
	}
	return rec, ver, nil
}

// leaseFence returns the condition under which a record of upload id's progress may land: the
// lease l names is still the upload's (held, even past its expiry, as long as no one took it
// over); with no lease (nil), that no other holder's lease is live.
func (s *Service) leaseFence(id FileID, l *Lease) (raftfsm.Cond, error) {
	if l != nil {
		if l.Upload != id {
			return raftfsm.Cond{}, fmt.Errorf("upload %s: lease of %s given", id, l.Upload)
		}
		_, ver, err := s.heldLease(*l)
		if err != nil {
			return raftfsm.Cond{}, err
		}
		return condVersion(leaseKey(id), ver), nil
	}
	rec, ver, err := s.leaseRecord(id)
	if err != nil {
		return raftfsm.Cond{}, err
	}
	if rec.Holder != "" && s.clock().Before(rec.Expires) {
		return raftfsm.Cond{}, fmt.Errorf("upload %s: %w: written on node %s", id, ErrLocked, rec.Holder)
	}
	return condVersion(leaseKey(id), ver), nil
}
