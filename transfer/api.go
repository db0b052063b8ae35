package transfer

import (
	"context"
	"fmt"
	"time"

	"valise/fault"
	"valise/raftfsm"
	"valise/userid"
)

// Errors returned by Service. Callers test them with errors.Is; each has a fault.Kind and a
// stable code (fault.KindOf, fault.CodeOf, Code) that front ends map to their answers
// (issue 17 item 2). Errors from the metadata store that mean "not now"
// (raftfsm.ErrNotLeader, raftfsm.ErrNoLeader, raftfsm.ErrClosed) come back wrapped; they have
// the kind Unavailable and the code "unavailable" themselves, so a front end needs no
// knowledge of raftfsm.
var (
	// ErrInvalidFileName is returned by CreateUpload (and ValidateFileName) for a file name
	// that could escape a directory or mislead a reader; the error is a *FileNameError.
	ErrInvalidFileName = fault.New(fault.Invalid, "file_name_invalid", "transfer: invalid file name")

	// ErrInvalidSize is returned by CreateUpload for a negative declared size and by
	// RecordProgress for an offset outside [0, size].
	ErrInvalidSize = fault.New(fault.Invalid, "size_invalid", "transfer: invalid size")

	// ErrTooLarge is returned by CreateUpload when the declared size exceeds the policy's
	// MaxFileSize.
	ErrTooLarge = fault.New(fault.TooLarge, "upload_too_large", "transfer: file larger than the policy allows")

	// ErrQuotaExceeded is returned by CreateUpload when the owner's uploads and files would
	// exceed the policy's quota.
	ErrQuotaExceeded = fault.New(fault.TooLarge, "quota_exceeded", "transfer: quota exceeded")

	// ErrInvalidMetadata is returned by CreateUpload for upload metadata beyond the caps
	// (count, size) or with invalid text.
	ErrInvalidMetadata = fault.New(fault.Invalid, "metadata_invalid", "transfer: invalid upload metadata")

	// ErrInvalidOwner is returned for an empty or oversized owner ID.
	ErrInvalidOwner = fault.New(fault.Invalid, "owner_invalid", "transfer: invalid owner")

	// ErrUploadNotFound is returned for an upload that does not exist, or belongs to someone
	// else (tus: 404).
	ErrUploadNotFound = fault.New(fault.NotFound, "upload_not_found", "transfer: upload not found")

	// ErrUploadExpired is returned for the owner's upload that passed its expiry without
	// progress (tus: 410).
	ErrUploadExpired = fault.New(fault.Gone, "upload_expired", "transfer: upload expired")

	// ErrOffsetMismatch is returned by RecordProgress when the upload is not at the expected
	// offset, including when a concurrent PATCH won the race (tus: 409).
	ErrOffsetMismatch = fault.New(fault.Conflict, "offset_mismatch", "transfer: upload offset mismatch")

	// ErrFileNotFound is returned for a file that does not exist (or was destroyed), or
	// belongs to someone else.
	ErrFileNotFound = fault.New(fault.NotFound, "file_not_found", "transfer: file not found")

	// ErrFileNotSendable is returned by CreateSend for a file whose verdict is not clean
	// (infected, quarantined, not scanned and held by the policy); the error is a
	// *FileNotSendableError. A file still being scanned is no reason: the send waits for it
	// (StatusPendingScan).
	ErrFileNotSendable = fault.New(fault.Invalid, "file_not_sendable", "transfer: file cannot be sent")

	// ErrFileScanning names a file still being scanned (VerdictPending). CreateSend no
	// longer returns it (issue 16 item 3: the send waits for the antivirus instead); the code
	// "file_scanning" stays for clients that know it.
	ErrFileScanning = fault.New(fault.Conflict, "file_scanning", "transfer: file still being scanned: try again when the scan is done")

	// ErrInvalidVerdict is returned for a verdict that is not one of the Verdict constants.
	ErrInvalidVerdict = fault.New(fault.Invalid, "verdict_invalid", "transfer: invalid verdict")

	// ErrInvalidRecipient is returned by CreateSend for an address that is not a plain
	// e-mail address; the error is a *RecipientError.
	ErrInvalidRecipient = fault.New(fault.Invalid, "recipient_invalid", "transfer: invalid recipient")

	// ErrNoRecipients is returned by CreateSend with no recipient at all.
	ErrNoRecipients = fault.New(fault.Invalid, "no_recipients", "transfer: no recipient")

	// ErrTooManyRecipients is returned by CreateSend with more distinct recipients than
	// Config.MaxRecipients.
	ErrTooManyRecipients = fault.New(fault.Invalid, "too_many_recipients", "transfer: too many recipients")

	// ErrNoFiles is returned by CreateSend with no file, or more than Config.MaxFilesPerSend,
	// or the same file twice.
	ErrNoFiles = fault.New(fault.Invalid, "files_invalid", "transfer: no file or too many files")

	// ErrSendTooLarge is returned by CreateSend when the files together exceed the policy's
	// MaxSendBytes.
	ErrSendTooLarge = fault.New(fault.Invalid, "send_too_large", "transfer: the files are too large for one send")

	// ErrInvalidText is returned by CreateSend for a subject, message or sender name that is
	// too long or holds forbidden characters (control characters, a line break in a subject).
	ErrInvalidText = fault.New(fault.Invalid, "text_invalid", "transfer: invalid subject, message or sender")

	// ErrInvalidOptions is returned by CreateSend for an expiry beyond the policy, a negative
	// download limit, or a password too short or too long.
	ErrInvalidOptions = fault.New(fault.Invalid, "options_invalid", "transfer: invalid send options")

	// ErrSendNotFound is returned for a send that does not exist or belongs to someone else.
	ErrSendNotFound = fault.New(fault.NotFound, "send_not_found", "transfer: send not found")

	// ErrSendNotActive is returned by Resend for a send that is revoked, cancelled, expired,
	// used up, or still waiting for the antivirus (its links are not issued yet).
	ErrSendNotActive = fault.New(fault.Conflict, "send_not_active", "transfer: send no longer active")

	// ErrTooManyResends is returned by Resend when the send was resent Config.Resend.PerSend
	// times in the window, or its owner resent Config.Resend.PerUser links (HTTP: 429).
	ErrTooManyResends = fault.New(fault.RateLimited, "too_many_resends", "transfer: too many resends: try again later")

	// ErrRecipientNotFound is returned by Resend and RecordNotified for an address that is
	// not a recipient of the send.
	ErrRecipientNotFound = fault.New(fault.NotFound, "recipient_not_found", "transfer: recipient not found")

	// ErrLinkNotFound is returned by every public call for a link that is unknown, revoked,
	// expired, replaced by a resend or whose send is used up: all alike (HTTP: 404).
	ErrLinkNotFound = fault.New(fault.NotFound, "link_not_found", "transfer: link not found")

	// ErrSuspended is returned by every public call for a link whose send was created before
	// the time a restore wrote under SuspendKey and that its sender has not confirmed since
	// (Confirm): the service came back from a backup, and only the sender knows whether the
	// send still stands (issue 19).
	ErrSuspended = fault.New(fault.Forbidden, "link_suspended", "transfer: link suspended after a restore until its sender confirms it")

	// ErrChallengeRequired is returned by StartDownload when the send requires a password or
	// an e-mail code and no valid, complete grant was given.
	ErrChallengeRequired = fault.New(fault.Forbidden, "challenge_required", "transfer: password or e-mail code required")

	// ErrNotRequired is returned by CheckLinkPassword, IssueEmailCode and CheckEmailCode when
	// the send does not ask for that challenge.
	ErrNotRequired = fault.New(fault.Conflict, "challenge_not_required", "transfer: challenge not required")

	// ErrWrongPassword is returned by CheckLinkPassword for a wrong password.
	ErrWrongPassword = fault.New(fault.Forbidden, "wrong_password", "transfer: wrong password")

	// ErrWrongCode is returned by CheckEmailCode for a wrong code.
	ErrWrongCode = fault.New(fault.Forbidden, "wrong_code", "transfer: wrong e-mail code")

	// ErrCodeExpired is returned by CheckEmailCode when no code is pending: never issued,
	// older than its validity, already used or burnt by too many attempts.
	ErrCodeExpired = fault.New(fault.Forbidden, "code_expired", "transfer: e-mail code expired")

	// ErrTooManyAttempts is returned by CheckLinkPassword while the link (or the client
	// address, for this link) is locked after too many wrong passwords, by CheckEmailCode
	// while the code (or the address, for it) is locked after too many attempts, and by
	// IssueEmailCode when too many codes were issued recently.
	ErrTooManyAttempts = fault.New(fault.RateLimited, "too_many_attempts", "transfer: too many attempts")

	// ErrDownloadLimit is returned by StartDownload for a file that reached the send's
	// download limit (HTTP: 410).
	ErrDownloadLimit = fault.New(fault.Gone, "download_limit", "transfer: download limit reached")

	// ErrDownloadBusy is returned by StartDownload when downloads in progress hold every
	// download the file's limit has left: it may become available again if one of them is
	// cut before it served the whole file (HTTP: 409).
	ErrDownloadBusy = fault.New(fault.Conflict, "download_busy", "transfer: download limit held by downloads in progress")

	// ErrLocked is returned by upload.Pipeline's Write and Terminate while another Write on
	// the same upload runs in this process, and by the lease calls (AcquireLease,
	// RecordProgressLeased…) while another node holds the upload's lease or once it took it
	// over (tus: 423, which tus clients retry). This one and the two chunk errors below
	// are package upload's: they stay here so that one table (Sentinels, doc.go's) holds every
	// upload error.
	ErrLocked = fault.New(fault.Locked, "upload_locked", "transfer: upload locked by another request")

	// ErrChecksumMismatch is what an upload.Chunk's Verify returns (possibly wrapping it) when
	// the chunk's digest is not the announced one; upload.Pipeline.Write rolls the chunk back
	// and returns it (tus: 460).
	ErrChecksumMismatch = fault.New(fault.Corrupted, "checksum_mismatch", "transfer: chunk checksum mismatch")

	// ErrChunkIncomplete is what an upload.Chunk's Verify returns when a chunk with a checksum
	// was cut before its end; upload.Pipeline.Write rolls it back and returns it (tus: 400).
	ErrChunkIncomplete = fault.New(fault.Invalid, "chunk_incomplete", "transfer: chunk cut before its checksum could be verified")

	// ErrBusy is returned when a change kept conflicting with concurrent changes of the same
	// records after several attempts; the caller may retry later.
	ErrBusy = fault.New(fault.Unavailable, "unavailable", "transfer: too much contention, retry")

	// ErrNotNotified is returned, wrapped with the cause, by ResendLink when the new link was
	// made but its mail could not be queued or recorded: a partial success, the Invitation
	// returned is valid and the sender sees the recipient not notified.
	ErrNotNotified = fault.New(fault.Unavailable, "not_notified", "transfer: link made but its mail not queued")

	// ErrFileChanged is returned by ReplaceManifest when the file's record changed since the
	// version the caller read: the caller reads it again and decides anew.
	ErrFileChanged = fault.New(fault.Conflict, "file_changed", "transfer: file changed meanwhile")
)

// Code returns the stable, machine-readable code of err for API answers ("link_not_found"),
// or "internal" for errors that have no kind: fault.CodeOf(err).
func Code(err error) string { return fault.CodeOf(err) }

// Sentinels lists every exported sentinel error, for tests that check tables against them
// (the status table in doc.go, the message catalog).
func Sentinels() []*fault.Error {
	return []*fault.Error{
		ErrInvalidFileName, ErrInvalidSize, ErrTooLarge, ErrQuotaExceeded, ErrInvalidMetadata,
		ErrInvalidOwner, ErrUploadNotFound, ErrUploadExpired, ErrOffsetMismatch, ErrFileNotFound,
		ErrFileNotSendable, ErrFileScanning, ErrInvalidVerdict, ErrInvalidRecipient,
		ErrNoRecipients, ErrTooManyRecipients, ErrNoFiles, ErrSendTooLarge, ErrInvalidText,
		ErrInvalidOptions, ErrSendNotFound, ErrSendNotActive, ErrTooManyResends,
		ErrRecipientNotFound, ErrLinkNotFound, ErrSuspended, ErrChallengeRequired, ErrNotRequired,
		ErrWrongPassword, ErrWrongCode, ErrCodeExpired, ErrTooManyAttempts, ErrDownloadLimit,
		ErrDownloadBusy, ErrLocked, ErrChecksumMismatch, ErrChunkIncomplete, ErrBusy,
		ErrNotNotified, ErrFileChanged,
	}
}

// Metadata is the part of raftfsm.Store that transfer uses.
type Metadata interface {
	// Propose commits b through the leader (forwarded there from a follower): all its Conds
	// hold and its Ops apply, or nothing does (a *raftfsm.ConflictError). It returns
	// raftfsm.ErrNotLeader or ErrNoLeader when no leader can take it now.
	Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error)
	// Get reads key from the local state; raftfsm.ErrNotFound when it has no value.
	Get(key []byte) (raftfsm.Item, error)
	// Scan calls fn for every key with prefix, in key order, from one consistent view of
	// the local state; an error from fn stops the scan and is returned.
	Scan(prefix []byte, fn func(raftfsm.Item) error) error
	// LinearizableRead returns once the local state holds every change committed before
	// the call, so the reads that follow are linearizable.
	LinearizableRead(ctx context.Context) error
}

// Blobs is the part of the byte store that retention needs; StoreBlobs implements it on a
// blobstore.Store. Retention only shreds manifests and deletes shards: the bytes of an upload
// are written by package upload's Pipeline, straight into a blobstore.Writer.
type Blobs interface {
	// ShredManifest returns what is left of a committed file's manifest once its wrapped
	// data key is removed: enough to find and delete the shards, nothing to decrypt them.
	// It is pure (no I/O) and fails only on bytes that are not a manifest.
	ShredManifest(manifest []byte) ([]byte, error)
	// ShredResumeState does the same for an upload's resume state.
	ShredResumeState(state []byte) ([]byte, error)
	// DeleteFile removes every shard named by a shredded manifest. Shards already gone are
	// not an error, so a rerun after a partial failure finishes the job.
	DeleteFile(ctx context.Context, shredded []byte) error
	// DiscardUpload removes the shards and staging files of an abandoned upload, named by
	// a shredded resume state; like DeleteFile it is idempotent.
	DiscardUpload(ctx context.Context, shredded []byte) error
}

// PasswordHasher hashes link passwords; account's Argon2id (19 MiB, t=2, p=1, parameters in
// the PHC string, a semaphore bounding concurrent hashes) is meant to stand behind it. Both
// methods are called from request goroutines, may block on the semaphore, and must honour
// ctx.
type PasswordHasher interface {
	// HashPassword returns a self-describing hash (PHC string) of password with a fresh salt.
	HashPassword(ctx context.Context, password string) (string, error)
	// VerifyPassword reports, in constant time, whether password matches hash; an error
	// only for a malformed hash or ctx's end.
	VerifyPassword(ctx context.Context, password, hash string) (bool, error)
}

// Quotas says how many bytes an owner's uploads and files may hold; account may implement it
// from a per-user setting.
type Quotas interface {
	// Quota returns owner's quota in bytes: 0 for none, or a negative value for "the
	// policy's QuotaBytes". Called from request goroutines; must not block for long.
	Quota(ctx context.Context, owner userid.ID) (int64, error)
}

// FileID names a file, and the upload it comes from: the same UUID v7, so the byte store
// can bind its blocks to the file from the first byte.
type FileID string

// SendID names a send (a UUID v7).
type SendID string

// Verdict is what the scanner concluded about a file. The string values are stable: they
// are stored and shown by the API.
type Verdict string

// The verdicts, as the scan package reports them.
const (
	// VerdictClean: scanned whole, nothing found.
	VerdictClean Verdict = "clean"
	// VerdictCleanWindows: larger than the scanner's stream limit, scanned in overlapping
	// windows, nothing found; shown as "clean (scanned in windows)".
	VerdictCleanWindows Verdict = "clean_windows"
	// VerdictInfected: a signature matched; the file is quarantined and never served.
	VerdictInfected Verdict = "infected"
	// VerdictNotScanned: not scanned (scanner down, too large), with a reason; the file is
	// held until scanned.
	VerdictNotScanned Verdict = "not_scanned"
	// VerdictPending: the upload is complete and its scan still runs in the background
	// (shown as "scanning"); never sendable, it becomes one of the others.
	VerdictPending Verdict = "pending"
)

// String returns the stable code.
func (v Verdict) String() string { return string(v) }

// Valid reports whether v is one of the verdict constants.
func (v Verdict) Valid() bool {
	switch v {
	case VerdictClean, VerdictCleanWindows, VerdictInfected, VerdictNotScanned, VerdictPending:
		return true
	}
	return false
}

// ParseVerdict turns a stored or scanner code ("clean", "clean_windows", "infected",
// "not_scanned", "pending") into a Verdict; ErrInvalidVerdict for anything else.
func ParseVerdict(code string) (Verdict, error) {
	if v := Verdict(code); v.Valid() {
		return v, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidVerdict, code)
}

// Sendable reports whether a file with this verdict may flow to recipients (the policy may
// still hold a clean one checked with test signatures only: Policy.HoldTestSignaturesOnly).
func (v Verdict) Sendable() bool { return v == VerdictClean || v == VerdictCleanWindows }

// ReasonTestSignaturesOnly is the VerdictReason of a clean verdict (VerdictClean,
// VerdictCleanWindows) given by a scanner that had only the built-in test signatures loaded:
// nothing real was checked, and every place that shows the verdict (API, pages, mails, the
// journal) says so. A rescan once real signatures are loaded replaces it.
const ReasonTestSignaturesOnly = "checked_test_signatures_only"

// CheckedTestSignaturesOnly reports whether a verdict and its reason say the file was found
// clean with test signatures only (ReasonTestSignaturesOnly).
func CheckedTestSignaturesOnly(v Verdict, reason string) bool {
	return v.Sendable() && reason == ReasonTestSignaturesOnly
}

// Upload is the bookkeeping of a resumable (tus) upload. Its ID becomes the file's ID.
type Upload struct {
	ID       FileID            `json:"id"`
	Owner    userid.ID         `json:"owner"`
	Name     string            `json:"name"`
	Folder   string            `json:"folder,omitempty"`   // the path inside a dropped folder, see FolderOf
	Size     int64             `json:"size"`               // declared (tus Upload-Length)
	Offset   int64             `json:"offset"`             // durable, acknowledged bytes
	Metadata map[string]string `json:"metadata,omitempty"` // tus Upload-Metadata, decoded
	// ResumeState is the byte store's opaque state to resume at Offset. It may hold key
	// material: never log it.
	ResumeState []byte    `json:"resume_state,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Expires     time.Time `json:"expires"` // Config.UploadTTL after the last progress
	Version     uint64    `json:"-"`       // the record's raftfsm version
}

// Completion is what the byte store and the scanner say about a finished upload.
type Completion struct {
	// Manifest is the byte store's encoded manifest, wrapped data key included.
	Manifest []byte
	// SHA256 is the hex SHA-256 of the whole file.
	SHA256 string
	// Verdict and VerdictReason come from the scanner.
	Verdict       Verdict
	VerdictReason string
}

// File is a complete upload: what a send can carry.
type File struct {
	ID            FileID    `json:"id"`
	Owner         userid.ID `json:"owner"`
	Name          string    `json:"name"`
	Folder        string    `json:"folder,omitempty"` // the path inside a dropped folder, see FolderOf
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	Verdict       Verdict   `json:"verdict"`
	VerdictReason string    `json:"verdict_reason,omitempty"`
	Quarantined   bool      `json:"quarantined,omitempty"` // infected: never served
	Created       time.Time `json:"created"`
	// Manifest is the byte store's manifest; it holds the wrapped data key: never log it.
	Manifest []byte `json:"manifest"`
	// Sends lists the sends that carry the file; retention keeps the file while one is
	// active.
	Sends   []SendID `json:"sends,omitempty"`
	Version uint64   `json:"-"`
}

// RecipientKind is the header a recipient is addressed in.
type RecipientKind string

// The recipient kinds.
const (
	KindTo  RecipientKind = "to"
	KindCc  RecipientKind = "cc"
	KindBcc RecipientKind = "bcc"
)

// String returns the kind's stable code.
func (k RecipientKind) String() string { return string(k) }

// Sender is how the sender is shown to recipients; the HTTP layer fills it from the account.
type Sender struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Options are a send's choices.
type Options struct {
	// Password, when set, is asked before downloading. Never stored: only its hash.
	Password string `json:"-"`
	// GeneratePassword asks for a random password, returned once in Created.Password for
	// the sender to pass on by another channel. Ignored when Password is set.
	GeneratePassword bool `json:"-"`
	// Expiry is how long the links live; 0 means the policy's default.
	Expiry time.Duration `json:"-"`
	// DownloadLimit is how many complete downloads each file may have; 0: no limit.
	DownloadLimit int `json:"download_limit,omitempty"`
	// DeleteAfterDownload destroys the files once each was downloaded completely once.
	DeleteAfterDownload bool `json:"delete_after_download,omitempty"`
	// Receipts asks for a mail to the sender on each complete download.
	Receipts bool `json:"receipts,omitempty"`
	// EmailCode asks the recipient for a code mailed to their address before downloading.
	EmailCode bool `json:"email_code,omitempty"`
	// PasswordRequired says a password protects the send (output only).
	PasswordRequired bool `json:"password_required,omitempty"`
}

// SendRequest is what a sender asks for. To, Cc and Bcc hold addresses, each bare or with a
// display name (ParseRecipient).
type SendRequest struct {
	From        Sender
	To, Cc, Bcc []string
	Subject     string
	Message     string
	FileIDs     []FileID
	Options     Options
	// Lang is the language ("fr", "en") of the mails that leave later, when the send waits
	// for the antivirus: the caller's, as for the mails it sends at once.
	Lang string
}

// SendStatus is a send's state, derived from its record and the time.
type SendStatus string

// The send statuses.
const (
	StatusActive    SendStatus = "active"
	StatusRevoked   SendStatus = "revoked"
	StatusExpired   SendStatus = "expired"
	StatusConsumed  SendStatus = "consumed"  // deleted after download
	StatusExhausted SendStatus = "exhausted" // download limit reached for every file
	// StatusPendingScan: a file is still being scanned; no link exists yet, and the mails
	// leave when every file is found clean (Service.SettleSendsOf, SettleWaitingSends).
	StatusPendingScan SendStatus = "pending_scan"
	// StatusCancelled: a file the send waited for was found infected (or destroyed); no
	// link was ever issued.
	StatusCancelled SendStatus = "cancelled"
)

// live reports whether a send in this state still needs its files: active, or waiting
// for the antivirus.
func (s SendStatus) live() bool { return s == StatusActive || s == StatusPendingScan }

// String returns the status's stable code.
func (s SendStatus) String() string { return string(s) }

// SendFile is a file as the send carries it, with its complete-download count.
type SendFile struct {
	ID            FileID  `json:"id"`
	Name          string  `json:"name"`
	Folder        string  `json:"folder,omitempty"`
	Size          int64   `json:"size"`
	SHA256        string  `json:"sha256"`
	Verdict       Verdict `json:"verdict"`
	VerdictReason string  `json:"verdict_reason,omitempty"`
	Downloads     int     `json:"downloads"` // complete downloads, all recipients
}

// Download is one download by a recipient.
type Download struct {
	At       time.Time `json:"at"`
	FileID   FileID    `json:"file_id"`
	IP       string    `json:"ip"`
	Complete bool      `json:"complete"`
	Range    bool      `json:"range,omitempty"` // a Range request (a resumed download)
}

// Recipient is one recipient of a send with their tracking.
type Recipient struct {
	Address string `json:"address"`
	// Name is the display name the sender gave ("Marie Dupont <marie@example.org>"), "" for
	// none: mails greet the recipient by it.
	Name           string        `json:"name,omitempty"`
	Kind           RecipientKind `json:"kind"`
	LinkIssued     time.Time     `json:"link_issued"`
	NotifiedFirst  time.Time     `json:"notified_first,omitzero"`
	NotifiedLast   time.Time     `json:"notified_last,omitzero"`
	NotifyCount    int           `json:"notify_count"`
	OpenedFirst    time.Time     `json:"opened_first,omitzero"`
	OpenedLast     time.Time     `json:"opened_last,omitzero"`
	DownloadCount  int           `json:"download_count"` // complete downloads
	Downloads      []Download    `json:"downloads,omitempty"`
	DownloadsTrunc int           `json:"downloads_truncated,omitempty"` // older events dropped
}

// Send is a send as its sender sees it.
type Send struct {
	ID          SendID      `json:"id"`
	Owner       userid.ID   `json:"owner"`
	From        Sender      `json:"from"`
	Subject     string      `json:"subject"`
	Message     string      `json:"message"`
	Files       []SendFile  `json:"files"`
	Recipients  []Recipient `json:"recipients"`
	Options     Options     `json:"options"`
	Created     time.Time   `json:"created"`
	Expires     time.Time   `json:"expires"`
	RevokedAt   time.Time   `json:"revoked_at,omitzero"`
	ConsumedAt  time.Time   `json:"consumed_at,omitzero"`
	ExhaustedAt time.Time   `json:"exhausted_at,omitzero"`
	// LinksClosed says the send's link records were removed (revoked, or closed by the
	// sweep after expiry or use).
	LinksClosed bool `json:"links_closed,omitempty"`
	// PendingScan says the send waits for the antivirus: it was created while a file was
	// still being scanned; its links are issued and mailed once every file is clean.
	PendingScan bool `json:"pending_scan,omitempty"`
	// ConfirmedAt is when the sender confirmed the send after a restore that suspended the
	// links older than the backup (SuspendKey, Confirm).
	ConfirmedAt time.Time `json:"confirmed_at,omitzero"`
	// CancelledAt is when a send waiting for the antivirus was cancelled, because a file
	// was found infected (CancelReason "infected") or was destroyed ("file_gone").
	CancelledAt  time.Time `json:"cancelled_at,omitzero"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	// State is Status at the time of the read that returned the send (GetSend, ListSends,
	// CreateSend): "pending_scan" while it waits for the antivirus. Not stored.
	State SendStatus `json:"state"`
	// Suspended says, at the time of the read that returned the send, that its links are
	// refused to recipients until the sender confirms it (Confirm): it was created before
	// the time a restore wrote under SuspendKey. Not stored.
	Suspended bool   `json:"suspended,omitempty"`
	Version   uint64 `json:"-"`
}

// Status returns the send's state at now. Revoked wins over cancelled, then used up, then
// expired, then waiting for the antivirus.
func (s *Send) Status(now time.Time) SendStatus {
	switch {
	case !s.RevokedAt.IsZero():
		return StatusRevoked
	case !s.CancelledAt.IsZero():
		return StatusCancelled
	case !s.ConsumedAt.IsZero():
		return StatusConsumed
	case !s.ExhaustedAt.IsZero():
		return StatusExhausted
	case !now.Before(s.Expires):
		return StatusExpired
	case s.PendingScan:
		return StatusPendingScan
	}
	return StatusActive
}

// Invitation is what the mail to one recipient needs. Token is the link's secret, returned
// only here: put it in the link (/s/{token}) and forget it.
type Invitation struct {
	SendID    SendID
	Recipient string
	Name      string // the recipient's display name, "" for none
	Kind      RecipientKind
	Token     string
	// Notified is set by the use cases that mail the invitation (SendFiles, ResendLink,
	// NotifySettled) once its mail is queued and recorded.
	Notified bool
}

// Created is what CreateSend returns.
type Created struct {
	Send Send
	// Invitations are the mails to send now, one per recipient; none while the send waits
	// for the antivirus (Send.PendingScan): they come with its Settled.
	Invitations []Invitation
	// Password is the generated password when Options.GeneratePassword was asked, shown
	// once to the sender; empty otherwise.
	Password string
}

// LinkFile is a file as a recipient sees it.
type LinkFile struct {
	ID            FileID  `json:"id"`
	Name          string  `json:"name"`
	Folder        string  `json:"folder,omitempty"`
	Size          int64   `json:"size"`
	SHA256        string  `json:"sha256"`
	Verdict       Verdict `json:"verdict"`
	VerdictReason string  `json:"verdict_reason,omitempty"`
	// Available is false once the file reached the download limit.
	Available bool `json:"available"`
}

// LinkView is what a recipient sees when opening a link. Until every challenge the send asks
// for is passed (Locked), it holds only what passing them needs: the sender's name (the
// address when there is no name), which challenges are asked and which are passed; the
// send's ID, recipient, subject, message, files and expiry are left zero (issue 16 item 6).
type LinkView struct {
	SendID            SendID     `json:"send_id,omitzero"`
	Recipient         string     `json:"recipient,omitzero"`
	From              Sender     `json:"from"`
	Subject           string     `json:"subject,omitzero"`
	Message           string     `json:"message,omitzero"`
	Files             []LinkFile `json:"files,omitzero"`
	PasswordRequired  bool       `json:"password_required"`
	EmailCodeRequired bool       `json:"email_code_required"`
	// PasswordPassed and EmailCodePassed say which challenges the grant given passed.
	PasswordPassed  bool      `json:"password_passed"`
	EmailCodePassed bool      `json:"email_code_passed"`
	Locked          bool      `json:"locked"`
	Expires         time.Time `json:"expires,omitzero"`
}

// Grant is a recipient's pass after a challenge, so downloads do not ask again. Token is its
// secret, returned only here (the HTTP layer keeps it in a cookie).
type Grant struct {
	Token    string
	Expires  time.Time
	Complete bool // every challenge the send asks for was passed
}

// EmailCode is a code to mail to the link's recipient. Code is returned only here.
type EmailCode struct {
	Code      string
	Recipient string
	Expires   time.Time
	// SendID and SenderName are for the mail (its reference and greeting).
	SendID     SendID
	SenderName string
}

// Ticket is a download that StartDownload allowed: the HTTP layer streams the file from
// Manifest, then hands the ticket to FinishDownload.
type Ticket struct {
	SendID    SendID
	Recipient string
	File      LinkFile
	// Manifest is the byte store's manifest, wrapped data key included: never log it.
	Manifest []byte
	ClientIP string
	Range    bool // a Range request rather than the whole file
	Started  time.Time
	// Hold is the download's hold on the file's download limit, "" when the send has no
	// limit: FinishDownload releases it.
	Hold string
	// Zip says the file is served in a zip of the send's files: the caller sets it, and the
	// zip, not each file, is one download for receipts (one receipt per recipient and zip
	// in Config.Receipt.Window).
	Zip bool
}

// Receipt is what a download receipt mail to the sender says.
type Receipt struct {
	SendID      SendID
	Owner       userid.ID
	SenderEmail string
	Recipient   string
	FileID      FileID
	FileName    string
	At          time.Time
	IP          string
}

// Outcome is what FinishDownload decided.
type Outcome struct {
	// ReceiptDue says a receipt should be mailed to the sender (Options.Receipts, a
	// complete download, and within the bounds of Config.Receipt); Receipt says what.
	ReceiptDue bool
	Receipt    Receipt
	// Counted says the bytes served completed one download of the file.
	Counted bool
	// SendFinished says this download used the send up (download limit or delete after
	// download): the caller may trigger the retention job.
	SendFinished bool
}

// Settled is what a verdict decided for a send that waited for the antivirus: released,
// with the invitations to mail now, or cancelled, to tell the sender. NotifyVerdict and
// NotifySettled mail them, in Lang.
type Settled struct {
	Send Send
	// Lang is the language the sender composed in (SendRequest.Lang).
	Lang string
	// Invitations, when the send was released: one per recipient, each holding the link
	// token to mail (returned once, never stored). The mail's delivery is recorded by
	// RecordNotified.
	Invitations []Invitation
	// Cancelled says a file was found infected or destroyed; Infected lists the files found
	// infected.
	Cancelled bool
	Infected  []SendFile
}

// SweepReport counts what one Sweep did.
type SweepReport struct {
	LinksClosed    int // sends whose links were closed (expired, used up)
	FilesShredded  int // files whose key was destroyed
	UploadsExpired int
	ShardsDeleted  int // tombstones finished: shards deleted
	GrantsRemoved  int
}
