package tus

import (
	"context"
	"time"

	"valise/fault"
	"valise/userid"
)

// Errors a Backend returns (possibly wrapped); the handler answers each with the status of
// its fault kind (httpd/status). The chunk returned by the handler to the backend also
// reports some of them from Verify. A Backend may return other kinded errors (fault.New):
// they are answered by their kind and code too.
var (
	// ErrNotFound is returned when no upload has the ID for this principal: it never existed,
	// was terminated, or belongs to someone else (the two are not told apart). → 404.
	ErrNotFound = fault.New(fault.NotFound, "upload_not_found", "tus: upload not found")
	// ErrExpired is returned when the upload exists but its expiry has passed. → 410.
	ErrExpired = fault.New(fault.Gone, "upload_expired", "tus: upload expired")
	// ErrOffsetMismatch is returned by Write when the offset is not the upload's durable
	// offset. → 409.
	ErrOffsetMismatch = fault.New(fault.Conflict, "offset_mismatch", "tus: offset mismatch")
	// ErrChecksumMismatch is returned by Chunk.Verify, and so by Write, when the chunk's
	// digest is not the one the client announced. The chunk has been rolled back. → 460.
	ErrChecksumMismatch = fault.New(fault.Corrupted, "checksum_mismatch", "tus: checksum mismatch")
	// ErrIncomplete is returned by Chunk.Verify, and so by Write, when a chunk with a
	// checksum ended before its end (client cut, deadline): it cannot be verified, so it
	// is rolled back. → 400 (the client is usually gone).
	ErrIncomplete = fault.New(fault.Invalid, "chunk_incomplete", "tus: chunk cut short before its checksum could be verified")
	// ErrTooLarge is returned when an upload would exceed its Upload-Length or the
	// principal's MaxSize: by Create for the length, by Chunk.Verify and Write for a body
	// that runs past the length (rolled back). → 413.
	ErrTooLarge = fault.New(fault.TooLarge, "upload_too_large", "tus: upload too large")
	// ErrLocked is returned by Write and Terminate when another Write on the same upload is
	// in progress; the backend answers at once rather than queueing. → 423.
	ErrLocked = fault.New(fault.Locked, "upload_locked", "tus: upload locked by another request")
	// ErrBadMetadata is returned by Create when a metadata value is refused (a filename
	// with a path separator, a control character, too long, ...). → 400.
	ErrBadMetadata = fault.New(fault.Invalid, "bad_metadata", "tus: metadata refused")
)

// CreateRequest is what a client asks for when it creates an upload.
type CreateRequest struct {
	// Principal is the authenticated caller, never empty.
	Principal userid.ID
	// Length is the upload's total size in bytes (Upload-Length), 0 ≤ Length ≤ MaxSize.
	Length int64
	// Metadata is the decoded Upload-Metadata: key → raw value bytes (possibly empty). Never
	// nil. Validating the values (the filename) is the backend's job.
	Metadata map[string]string
}

// Info is the state of an upload as the backend last made it durable.
type Info struct {
	// Offset is the durable offset: every byte before it survives a crash.
	Offset int64
	// Length is the declared total size.
	Length int64
	// Expires is when an unfinished upload will be discarded; zero means never.
	Expires time.Time
	// Metadata is what Create received.
	Metadata map[string]string
}

// Chunk is the body of one PATCH (or of a POST with creation-with-upload) on its way to a
// Backend. The handler hashes and bounds it while the backend reads it.
//
// A Chunk is valid only during the Backend.Write call that received it: the backend must
// not keep it, nor any slice it filled, after Write returns (fasthttp reuses the request's
// memory; docs/dependencies.md, trap 4). It is not safe for concurrent use.
type Chunk interface {
	// Read reads the next bytes of the chunk. It returns io.EOF at the chunk's clean end;
	// ErrTooLarge once the body runs past the upload's length (the excess bytes are never
	// returned); or the transport's error (client cut, per-read deadline).
	Read(p []byte) (int, error)
	// Verify says whether the bytes read so far may become durable. The backend calls it
	// exactly once, after its last Read and BEFORE it makes anything of the chunk durable,
	// whether reading ended at io.EOF or with an error. nil: make the bytes read durable
	// (after a cut without checksum, that keeps the bytes received, as tus wants). An error
	// (ErrChecksumMismatch, ErrIncomplete, ErrTooLarge): roll back to the offset the chunk
	// started at and return that error from Write.
	Verify() error
}

// Backend stores uploads. The domain implements it (blobstore shards plus metadata); a
// file-backed reference lives in tustest. Every method may be called concurrently from
// request goroutines, for the same or different uploads. The ctx passed in is the request's
// and must not be kept after the method returns.
//
// An upload is owned by the principal that created it: every method taking a principal
// answers ErrNotFound for an upload of another principal.
type Backend interface {
	// Create registers a new, empty upload and returns its ID. The ID is used as a URL
	// path segment: 1 to 128 characters among [A-Za-z0-9_-]. Errors: ErrTooLarge when
	// r.Length exceeds MaxSize(r.Principal), ErrBadMetadata. An upload of Length 0 is
	// complete at once: no Write follows.
	Create(ctx context.Context, r CreateRequest) (id string, err error)

	// Info returns the upload's durable state. While a Write is in progress it returns the
	// offset before that chunk. Errors: ErrNotFound, ErrExpired.
	Info(ctx context.Context, principal userid.ID, id string) (Info, error)

	// Write appends the chunk at offset, which must equal the durable offset, and returns
	// the new durable offset. It reads the chunk to its end (io.EOF) or to its first error,
	// writing as bytes arrive with a bounded buffer, never buffering the whole chunk; then it
	// calls chunk.Verify and either checkpoints (the bytes read become durable, and survive
	// a crash) or rolls back to offset. One checkpoint per chunk, not per buffer.
	//
	// It returns the durable offset after the call in every case, with:
	//   - nil when the chunk ended at io.EOF and was made durable;
	//   - the Verify error (ErrChecksumMismatch, ErrIncomplete, ErrTooLarge), wrapped, after
	//     a rollback (the offset returned is then the argument);
	//   - the chunk's read error, wrapped, after making the bytes received durable;
	//   - ErrNotFound, ErrExpired, ErrOffsetMismatch, ErrLocked before reading anything;
	//   - another error (storage) after a rollback.
	//
	// The bytes never go past the upload's Length (ErrTooLarge, rolled back). A Write that
	// brings the offset to Length completes the upload before it returns. Two Writes on
	// the same upload never run at once: the second gets ErrLocked.
	Write(ctx context.Context, principal userid.ID, id string, offset int64, chunk Chunk) (newOffset int64, err error)

	// Terminate deletes the upload and what it stored; it then answers ErrNotFound.
	// Errors: ErrNotFound, ErrLocked (a Write is in progress).
	Terminate(ctx context.Context, principal userid.ID, id string) error

	// MaxSize returns the largest Upload-Length the principal may declare (policy; the
	// product default is 10 GiB). It must answer quickly and not block.
	MaxSize(principal userid.ID) int64
}
