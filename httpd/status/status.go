// Package status maps error kinds to HTTP statuses: the one place where the REST API, tus and
// the web UI turn a fault.Kind into an answer (issue 17 item 2; docs/style.md §4, after
// drakkan/sftpgo's getRespStatus).
//
// It imports only fault and the standard library, so every package under httpd may use it.
package status

import (
	"github.com/valyala/fasthttp"

	"valise/fault"
)

// ChecksumMismatch is tus's status for a chunk that does not match its Upload-Checksum
// (the checksum extension; fasthttp has no name for it).
const ChecksumMismatch = 460

// statuses holds the status of each kind; TestEveryKind keeps it complete.
var statuses = [...]int{
	fault.Internal:     fasthttp.StatusInternalServerError,
	fault.Invalid:      fasthttp.StatusBadRequest,
	fault.Unauthorized: fasthttp.StatusUnauthorized,
	fault.Forbidden:    fasthttp.StatusForbidden,
	fault.NotFound:     fasthttp.StatusNotFound,
	fault.NotAllowed:   fasthttp.StatusMethodNotAllowed,
	fault.Timeout:      fasthttp.StatusRequestTimeout,
	fault.Conflict:     fasthttp.StatusConflict,
	fault.Gone:         fasthttp.StatusGone,
	fault.TooLarge:     fasthttp.StatusRequestEntityTooLarge,
	fault.Unsupported:  fasthttp.StatusUnsupportedMediaType,
	fault.OutOfRange:   fasthttp.StatusRequestedRangeNotSatisfiable,
	fault.Locked:       fasthttp.StatusLocked,
	fault.RateLimited:  fasthttp.StatusTooManyRequests,
	fault.Corrupted:    ChecksumMismatch,
	fault.Precondition: fasthttp.StatusPreconditionFailed,
	fault.Unavailable:  fasthttp.StatusServiceUnavailable,
}

// Errors of the HTTP layer itself that every front end answers alike (the REST API, the web
// UI and the link pages declare theirs as these), with their kinds so that they map with the
// domain's in one table.
var (
	// ErrBadRequest is answered (400) for a body that is not the JSON or form expected.
	ErrBadRequest = fault.New(fault.Invalid, "bad_request", "http: malformed request")
	// ErrBodyTooLarge is answered (413) for a request body above the front end's limit.
	ErrBodyTooLarge = fault.New(fault.TooLarge, "body_too_large", "http: request body too large")
	// ErrUnsupportedMediaType is answered (415) for a body of a media type the route does not
	// take.
	ErrUnsupportedMediaType = fault.New(fault.Unsupported, "unsupported_media_type", "http: unsupported media type")
	// ErrRateLimited is answered (429) when a client address tried too many times.
	ErrRateLimited = fault.New(fault.RateLimited, "rate_limited", "http: too many requests")
)

// Of returns the HTTP status of kind; 500 for a kind it does not know.
func Of(kind fault.Kind) int {
	if int(kind) < len(statuses) && statuses[kind] != 0 {
		return statuses[kind]
	}
	return fasthttp.StatusInternalServerError
}

// OfError returns the HTTP status and the code of err: Of(fault.KindOf(err)) and
// fault.CodeOf(err).
func OfError(err error) (status int, code string) {
	return Of(fault.KindOf(err)), fault.CodeOf(err)
}

// RetryAfter returns the Retry-After seconds for an answer of status with code, "" when none
// is due: a minute after too many attempts, a few seconds when the service is busy.
func RetryAfter(status int, code string) string {
	switch {
	case status != fasthttp.StatusTooManyRequests && status != fasthttp.StatusServiceUnavailable:
		return ""
	case code == "too_many_attempts" || code == "rate_limited":
		return "60"
	}
	return "5"
}
