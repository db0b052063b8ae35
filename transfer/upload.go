package transfer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"valise/raftfsm"
	"valise/userid"
)

// ErrNotPending is returned by SettleVerdict for a file that already has its verdict. It is
// no answer to a client (no fault kind): the background scan that gets it drops its verdict.
var ErrNotPending = errors.New("transfer: file verdict no longer pending")

// Caps on tus Upload-Metadata.
const (
	maxMetadataEntries = 32
	maxMetadataBytes   = 4096
)

// usage is what an owner's uploads and files hold, in declared bytes.
type usage struct {
	Bytes int64 `json:"bytes"`
}

// tombstone records shards to delete once their key is gone.
type tombstone struct {
	ID       FileID    `json:"id"`
	Owner    userid.ID `json:"owner"`
	Upload   bool      `json:"upload,omitempty"` // an abandoned upload, not a committed file
	Shredded []byte    `json:"shredded"`         // manifest or resume state without key
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// CreateUpload starts the bookkeeping of an upload of size bytes named name, after checking
// the name (ErrInvalidFileName), the size against the policy (ErrTooLarge) and the owner's
// quota (ErrQuotaExceeded), which it reserves. The returned Upload's ID is the file's ID
// for the byte store.
func (s *Service) CreateUpload(ctx context.Context, owner userid.ID, name string, size int64, metadata map[string]string) (Upload, error) {
	if err := checkOwner(owner); err != nil {
		return Upload{}, err
	}
	if err := ValidateFileName(name); err != nil {
		return Upload{}, err
	}
	folder, err := FolderOf(metadata[MetadataRelativePath], name)
	if err != nil {
		return Upload{}, err
	}
	if size < 0 {
		return Upload{}, fmt.Errorf("%w: declared size %d", ErrInvalidSize, size)
	}
	if err := checkMetadata(metadata); err != nil {
		return Upload{}, err
	}
	pol := s.policy()
	if size > pol.MaxFileSize {
		return Upload{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, size, pol.MaxFileSize)
	}
	quota, err := s.quota(ctx, owner, pol)
	if err != nil {
		return Upload{}, err
	}
	id, err := s.newID()
	if err != nil {
		return Upload{}, err
	}
	now := s.clock()
	up := Upload{
		ID: FileID(id), Owner: owner, Name: name, Folder: folder, Size: size,
		Metadata: metadata, Created: now, Updated: now, Expires: now.Add(s.cfg.UploadTTL),
	}
	res, err := s.change(ctx, "create upload", func() (raftfsm.Batch, error) {
		var u usage
		ver, err := s.getJSON(usageKey(owner), &u)
		if err != nil && !errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, err
		}
		if quota > 0 && u.Bytes+size > quota {
			return raftfsm.Batch{}, fmt.Errorf("%w: %d bytes held, %d asked, quota %d", ErrQuotaExceeded, u.Bytes, size, quota)
		}
		u.Bytes += size
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condAbsent(uploadKey(up.ID)), condVersion(usageKey(owner), ver)},
			Ops:   []raftfsm.Op{put(uploadKey(up.ID), up), put(usageKey(owner), u)},
			Audit: audit(now, string(owner), "upload.create", id, map[string]any{"name": name, "folder": folder, "size": size}),
		}, nil
	})
	if err != nil {
		return Upload{}, err
	}
	up.Version = res.Index
	return up, nil
}

func checkMetadata(md map[string]string) error {
	if len(md) > maxMetadataEntries {
		return fmt.Errorf("%w: %d entries, at most %d", ErrInvalidMetadata, len(md), maxMetadataEntries)
	}
	total := 0
	for k, v := range md {
		total += len(k) + len(v)
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) || strings.ContainsFunc(k+v, isControl) {
			return fmt.Errorf("%w: entry %q", ErrInvalidMetadata, k)
		}
	}
	if total > maxMetadataBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidMetadata, total, maxMetadataBytes)
	}
	return nil
}

// GetUpload returns the owner's upload (tus HEAD): ErrUploadNotFound if it is not theirs or
// does not exist, ErrUploadExpired past its expiry.
func (s *Service) GetUpload(ctx context.Context, owner userid.ID, id FileID) (Upload, error) {
	return s.ownUpload(owner, id)
}

// OwnsUploadOrFile reports whether id names an upload, or the file it became, that owner
// owns, from the local state. A read error other than "not found" answers true: the caller's
// own reads then report it. Package upload asks it first, so that another user's request
// neither locks an upload nor touches its open writer.
func (s *Service) OwnsUploadOrFile(owner userid.ID, id FileID) bool {
	if !parseID(string(id)) {
		return false
	}
	var up Upload
	_, err := s.getJSON(uploadKey(id), &up)
	switch {
	case err == nil:
		return up.Owner == owner
	case !errors.Is(err, raftfsm.ErrNotFound):
		return true
	}
	var f File
	_, err = s.getJSON(fileKey(id), &f)
	switch {
	case err == nil:
		return f.Owner == owner
	case !errors.Is(err, raftfsm.ErrNotFound):
		return true
	}
	return false
}

// UploadRecord returns the owner's upload as recorded, expired or not (GetUpload refuses an
// expired one), from the local state: ErrUploadNotFound if it is not theirs or does not
// exist. Package upload reads it to delete an upload's bytes (tus DELETE), expired included.
func (s *Service) UploadRecord(owner userid.ID, id FileID) (Upload, error) {
	if !parseID(string(id)) {
		return Upload{}, ErrUploadNotFound
	}
	var up Upload
	ver, err := s.getJSON(uploadKey(id), &up)
	if errors.Is(err, raftfsm.ErrNotFound) || (err == nil && up.Owner != owner) {
		return Upload{}, ErrUploadNotFound
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	up.Version = ver
	return up, nil
}

// UploadRecorded reports whether an upload record, whoever's, names id in the local state.
// Package upload asks it, after LinearizableRead, for the staged data that no record names
// any more (its CleanOrphans).
func (s *Service) UploadRecorded(id FileID) (bool, error) {
	var up Upload
	_, err := s.getJSON(uploadKey(id), &up)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, raftfsm.ErrNotFound):
		return false, nil
	}
	return false, err
}

// LinearizableRead returns once the local state holds every change committed before the
// call, so that the reads that follow (UploadRecorded, ScanFiles) are linearizable; on a node
// that is not the leader it fails with an error of kind Unavailable (raftfsm.ErrNotLeader).
func (s *Service) LinearizableRead(ctx context.Context) error {
	return s.store.LinearizableRead(ctx)
}

// ScanFiles calls fn with every file of every owner (Manifest and Version included: never
// log the manifest), in ID order, from the local state; an error from fn stops the scan and
// is returned. Package upload scans them for the files whose verdict is pending or held.
func (s *Service) ScanFiles(fn func(File) error) error { return ScanStoredFiles(s.store, fn) }

func (s *Service) ownUpload(owner userid.ID, id FileID) (Upload, error) {
	up, err := s.UploadRecord(owner, id)
	if err != nil {
		return Upload{}, err
	}
	if !s.clock().Before(up.Expires) {
		return Upload{}, ErrUploadExpired
	}
	return up, nil
}

// RecordProgress records that the owner's upload durably reached newOffset, with the byte
// store's resume state for that offset, and pushes its expiry back. The upload must be at
// expectedOffset: otherwise, and when a concurrent PATCH recorded first (the record's
// version changed), it returns ErrOffsetMismatch and records nothing — two PATCHes can never
// both win. While another node holds the upload's lease it returns ErrLocked: writers take a
// lease and record with RecordProgressLeased.
func (s *Service) RecordProgress(ctx context.Context, owner userid.ID, id FileID, expectedOffset, newOffset int64, resumeState []byte) (Upload, error) {
	return s.recordProgress(ctx, owner, id, nil, expectedOffset, newOffset, resumeState)
}

// RecordProgressLeased is RecordProgress under l, the upload's lease: it returns ErrLocked,
// recording nothing, once l is no longer the upload's (another node took it over).
func (s *Service) RecordProgressLeased(ctx context.Context, owner userid.ID, l Lease, expectedOffset, newOffset int64, resumeState []byte) (Upload, error) {
	return s.recordProgress(ctx, owner, l.Upload, &l, expectedOffset, newOffset, resumeState)
}

func (s *Service) recordProgress(ctx context.Context, owner userid.ID, id FileID, l *Lease, expectedOffset, newOffset int64, resumeState []byte) (Upload, error) {
	up, err := s.ownUpload(owner, id)
	if err != nil {
		return Upload{}, err
	}
	if up.Offset != expectedOffset {
		return Upload{}, fmt.Errorf("%w: at %d, expected %d", ErrOffsetMismatch, up.Offset, expectedOffset)
	}
	if newOffset < expectedOffset || newOffset > up.Size {
		return Upload{}, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrInvalidSize, newOffset, expectedOffset, up.Size)
	}
	now := s.clock()
	prev := up.Version
	up.Offset, up.ResumeState, up.Updated, up.Expires = newOffset, slices.Clone(resumeState), now, now.Add(s.cfg.UploadTTL)
	res, err := s.proposeFenced(ctx, id, l, raftfsm.Batch{
		Conds: []raftfsm.Cond{condVersion(uploadKey(id), prev)},
		Ops:   []raftfsm.Op{put(uploadKey(id), up)},
		Audit: audit(now, string(owner), "upload.progress", string(id), map[string]any{"offset": newOffset}),
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return Upload{}, fmt.Errorf("%w: a concurrent request moved upload %s", ErrOffsetMismatch, id)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("record progress of %s: %w", id, err)
	}
	up.Version = res.Index
	return up, nil
}

// proposeFenced proposes b under upload id's lease fence (leaseFence: l's lease, or no live
// one), again while only the lease record moved under it (its holder renewed it).
func (s *Service) proposeFenced(ctx context.Context, id FileID, l *Lease, b raftfsm.Batch) (raftfsm.Result, error) {
	conds := b.Conds
	for attempt := 1; ; attempt++ {
		fence, err := s.leaseFence(id, l)
		if err != nil {
			return raftfsm.Result{}, err
		}
		b.Conds = append(slices.Clip(conds), fence)
		res, err := s.propose(ctx, b)
		if leaseMoved(err, id) && attempt < maxAttempts {
			continue
		}
		return res, err
	}
}

// leaseMoved says err is a conflict on upload id's lease record (a renewal, or a takeover
// which the next fence reports).
func leaseMoved(err error, id FileID) bool {
	var ce *raftfsm.ConflictError
	return errors.As(err, &ce) && bytes.Equal(ce.Cond.Key, leaseKey(id))
}

// CompleteUpload turns the owner's upload into a File once the byte store committed it, with
// the scanner's verdict or VerdictPending (the scan goes on in the background and settles
// it). An infected file is quarantined: kept (for the policy's unsent retention), never
// sendable, never served. The upload's lease goes with it; while another node holds that
// lease it returns ErrLocked (writers complete with CompleteUploadLeased).
func (s *Service) CompleteUpload(ctx context.Context, owner userid.ID, id FileID, c Completion) (File, error) {
	return s.completeUpload(ctx, owner, id, nil, c)
}

// CompleteUploadLeased is CompleteUpload under l, the upload's lease: it returns ErrLocked,
// recording nothing, once l is no longer the upload's.
func (s *Service) CompleteUploadLeased(ctx context.Context, owner userid.ID, l Lease, c Completion) (File, error) {
	return s.completeUpload(ctx, owner, l.Upload, &l, c)
}

func (s *Service) completeUpload(ctx context.Context, owner userid.ID, id FileID, l *Lease, c Completion) (File, error) {
	if !c.Verdict.Valid() {
		return File{}, fmt.Errorf("%w: %q", ErrInvalidVerdict, c.Verdict)
	}
	if sum, err := hex.DecodeString(c.SHA256); err != nil || len(sum) != 32 {
		return File{}, fmt.Errorf("complete upload %s: SHA-256 %q is not 64 hex digits", id, c.SHA256)
	}
	if len(c.Manifest) == 0 {
		return File{}, fmt.Errorf("complete upload %s: empty manifest", id)
	}
	up, err := s.ownUpload(owner, id)
	if err != nil {
		return File{}, err
	}
	now := s.clock()
	f := File{
		ID: id, Owner: owner, Name: up.Name, Folder: up.Folder, Size: up.Size, SHA256: strings.ToLower(c.SHA256),
		Verdict: c.Verdict, VerdictReason: c.VerdictReason, Quarantined: c.Verdict == VerdictInfected,
		Created: now, Manifest: slices.Clone(c.Manifest),
	}
	res, err := s.proposeFenced(ctx, id, l, raftfsm.Batch{
		Conds: []raftfsm.Cond{condVersion(uploadKey(id), up.Version), condAbsent(fileKey(id))},
		Ops:   []raftfsm.Op{del(uploadKey(id)), del(leaseKey(id)), put(fileKey(id), f)},
		Audit: audit(now, string(owner), "upload.complete", string(id), map[string]any{
			"name": f.Name, "folder": f.Folder, "size": f.Size, "sha256": f.SHA256, "verdict": f.Verdict, "reason": f.VerdictReason,
		}),
	})
	if errors.Is(err, raftfsm.ErrConflict) {
		return File{}, fmt.Errorf("%w: upload %s changed while completing", ErrOffsetMismatch, id)
	}
	if err != nil {
		return File{}, fmt.Errorf("complete upload %s: %w", id, err)
	}
	f.Version = res.Index
	return f, nil
}

// CancelUpload abandons the owner's upload (tus termination): its record goes, its quota
// is released and its partial shards are left to the sweep.
func (s *Service) CancelUpload(ctx context.Context, owner userid.ID, id FileID) error {
	if _, err := s.UploadRecord(owner, id); err != nil {
		return err
	}
	return skipped(s.dropUpload(ctx, id, string(owner), "upload.cancel", "cancelled", nil))
}

// dropUpload deletes an upload record, releases its reservation and leaves a tombstone for
// its shards.
// When still is not nil, the upload is dropped only if still(upload) holds on a fresh read.
func (s *Service) dropUpload(ctx context.Context, id FileID, actor, action, reason string, still func(*Upload) bool) error {
	_, err := s.change(ctx, action+" "+string(id), func() (raftfsm.Batch, error) {
		var up Upload
		ver, err := s.getJSON(uploadKey(id), &up)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, errSkip
		}
		if err != nil {
			return raftfsm.Batch{}, err
		}
		if still != nil && !still(&up) {
			return raftfsm.Batch{}, errSkip
		}
		now := s.clock()
		b := raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(uploadKey(id), ver)},
			Ops:   []raftfsm.Op{del(uploadKey(id)), del(leaseKey(id))},
			Audit: audit(now, actor, action, string(id), map[string]any{"name": up.Name, "offset": up.Offset, "reason": reason}),
		}
		if len(up.ResumeState) > 0 {
			shredded, err := s.blobs.ShredResumeState(up.ResumeState)
			if err != nil {
				return raftfsm.Batch{}, fmt.Errorf("shred resume state of %s: %w", id, err)
			}
			b.Conds = append(b.Conds, condAbsent(tombKey(id)))
			b.Ops = append(b.Ops, put(tombKey(id), tombstone{ID: id, Owner: up.Owner, Upload: true, Shredded: shredded, Reason: reason, At: now}))
		}
		release, err := s.releaseOps(up.Owner, up.Size)
		if err != nil {
			return raftfsm.Batch{}, err
		}
		b.Conds = append(b.Conds, release.Conds...)
		b.Ops = append(b.Ops, release.Ops...)
		return b, nil
	})
	return err
}

// releaseOps returns the cond and op giving size bytes of owner's reservation back.
func (s *Service) releaseOps(owner userid.ID, size int64) (raftfsm.Batch, error) {
	var u usage
	ver, err := s.getJSON(usageKey(owner), &u)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return raftfsm.Batch{}, nil
	}
	if err != nil {
		return raftfsm.Batch{}, err
	}
	u.Bytes = max(0, u.Bytes-size)
	return raftfsm.Batch{
		Conds: []raftfsm.Cond{condVersion(usageKey(owner), ver)},
		Ops:   []raftfsm.Op{put(usageKey(owner), u)},
	}, nil
}

// Usage returns the bytes the owner's uploads and files hold against the quota.
func (s *Service) Usage(ctx context.Context, owner userid.ID) (int64, error) {
	var u usage
	_, err := s.getJSON(usageKey(owner), &u)
	if err != nil && !errors.Is(err, raftfsm.ErrNotFound) {
		return 0, fmt.Errorf("read usage: %w", err)
	}
	return u.Bytes, nil
}

// Limits are what an owner may upload and send now, for a client to check before the first
// byte. CreateUpload and CreateSend enforce them anyway; they may be stale by the time an
// upload starts.
type Limits struct {
	MaxFile   int64 // the largest file the policy accepts
	QuotaLeft int64 // the bytes left in the owner's quota (0 when used up); -1: no quota
	MaxSend   int64 // the largest total of one send's files; 0: no bound but MaxFile
	MaxFiles  int   // the most files one send may carry
}

// UploadLimits returns owner's Limits now.
func (s *Service) UploadLimits(ctx context.Context, owner userid.ID) (Limits, error) {
	pol := s.policy()
	l := Limits{MaxFile: pol.MaxFileSize, QuotaLeft: -1, MaxSend: pol.MaxSendBytes, MaxFiles: s.cfg.MaxFilesPerSend}
	q, err := s.quota(ctx, owner, pol)
	if err != nil {
		return Limits{}, err
	}
	if q == 0 {
		return l, nil
	}
	used, err := s.Usage(ctx, owner)
	if err != nil {
		return Limits{}, err
	}
	l.QuotaLeft = max(q-used, 0)
	return l, nil
}

// ExpiredUploads lists the uploads whose expiry passed at now, oldest first.
func (s *Service) ExpiredUploads(ctx context.Context, now time.Time) ([]Upload, error) {
	var out []Upload
	err := scanJSON(s.store, prefixUpload, func(up *Upload, ver uint64) error {
		if !now.Before(up.Expires) {
			up.Version = ver
			out = append(out, *up)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list expired uploads: %w", err)
	}
	return out, nil
}

// GetFile returns the owner's file; ErrFileNotFound if it is not theirs or does not exist.
func (s *Service) GetFile(ctx context.Context, owner userid.ID, id FileID) (File, error) {
	if !parseID(string(id)) {
		return File{}, ErrFileNotFound
	}
	var f File
	ver, err := s.getJSON(fileKey(id), &f)
	if errors.Is(err, raftfsm.ErrNotFound) || (err == nil && f.Owner != owner) {
		return File{}, fmt.Errorf("%w: %s", ErrFileNotFound, id)
	}
	if err != nil {
		return File{}, fmt.Errorf("read file %s: %w", id, err)
	}
	f.Version = ver
	return f, nil
}

// FileRecord returns file id whoever owns it, from the local state; ErrFileNotFound if it
// does not exist (or was destroyed). Package upload's background scan reads it: the scan
// acts for the system, not for the owner.
func (s *Service) FileRecord(id FileID) (File, error) {
	if !parseID(string(id)) {
		return File{}, ErrFileNotFound
	}
	var f File
	ver, err := s.getJSON(fileKey(id), &f)
	if errors.Is(err, raftfsm.ErrNotFound) {
		return File{}, fmt.Errorf("%w: %s", ErrFileNotFound, id)
	}
	if err != nil {
		return File{}, fmt.Errorf("read file %s: %w", id, err)
	}
	f.Version = ver
	return f, nil
}

// ListFiles returns the owner's files, oldest first.
func (s *Service) ListFiles(ctx context.Context, owner userid.ID) ([]File, error) {
	var out []File
	err := scanJSON(s.store, prefixFile, func(f *File, ver uint64) error {
		if f.Owner == owner {
			f.Version = ver
			out = append(out, *f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return out, nil
}

// SetVerdict records a new scan verdict for a file (a rescan from its stored blocks after the
// stream could not follow, or a later signature update). Infected quarantines it.
func (s *Service) SetVerdict(ctx context.Context, id FileID, v Verdict, reason string) error {
	if !v.Valid() {
		return fmt.Errorf("%w: %q", ErrInvalidVerdict, v)
	}
	if !parseID(string(id)) {
		return ErrFileNotFound
	}
	_, err := s.change(ctx, "set verdict of "+string(id), func() (raftfsm.Batch, error) {
		var f File
		ver, err := s.getJSON(fileKey(id), &f)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s", ErrFileNotFound, id)
		}
		if err != nil {
			return raftfsm.Batch{}, err
		}
		prev := f.Verdict
		f.Verdict, f.VerdictReason = v, reason
		f.Quarantined = f.Quarantined || v == VerdictInfected
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(fileKey(id), ver)},
			Ops:   []raftfsm.Op{put(fileKey(id), f)},
			Audit: audit(s.clock(), "system", "file.scan", string(id), map[string]any{"verdict": v, "previous": prev, "reason": reason}),
		}, nil
	})
	return err
}

// SettleVerdict records v as the verdict of file id if it is still VerdictPending
// (ErrNotPending otherwise, ErrFileNotFound when it is gone) and returns the file as
// recorded. Infected quarantines it. Package upload's background scan calls it: unlike
// SetVerdict, it never overwrites a verdict another node's scan recorded first.
func (s *Service) SettleVerdict(ctx context.Context, id FileID, v Verdict, reason string) (File, error) {
	if !v.Valid() || v == VerdictPending {
		return File{}, fmt.Errorf("%w: %q", ErrInvalidVerdict, v)
	}
	var f File
	res, err := s.change(ctx, "record verdict of "+string(id), func() (raftfsm.Batch, error) {
		f = File{}
		ver, err := s.getJSON(fileKey(id), &f)
		if errors.Is(err, raftfsm.ErrNotFound) {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s", ErrFileNotFound, id)
		}
		if err != nil {
			return raftfsm.Batch{}, err
		}
		if f.Verdict != VerdictPending {
			return raftfsm.Batch{}, fmt.Errorf("%w: %s is %s", ErrNotPending, id, f.Verdict)
		}
		f.Verdict, f.VerdictReason = v, reason
		f.Quarantined = f.Quarantined || v == VerdictInfected
		return raftfsm.Batch{
			Conds: []raftfsm.Cond{condVersion(fileKey(id), ver)},
			Ops:   []raftfsm.Op{put(fileKey(id), f)},
			Audit: audit(s.clock(), "system", "file.scan", string(id), map[string]any{"verdict": v, "previous": VerdictPending, "reason": reason}),
		}, nil
	})
	if err != nil {
		return File{}, err
	}
	f.Version = res.Index
	return f, nil
}
