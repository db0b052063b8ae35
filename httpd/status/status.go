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
