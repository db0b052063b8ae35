package tus

import (
	"valise/fault"
	"valise/httpd/status"
)

// ErrUnauthorized is answered (401) to a request whose PrincipalFunc refused its credential; a
// PrincipalFunc may return it, wrapped or not, or any other error of the kind
// fault.Unauthorized.
var ErrUnauthorized = fault.New(fault.Unauthorized, "unauthorized", "tus: authentication required")

// Errors of the protocol itself, answered by the handler. Like the Backend's, each has a
// fault kind that httpd/status maps to the HTTP status, so there is one table from errors to
// statuses (issue 17 item 2).
var (
	errRouteNotFound  = fault.New(fault.NotFound, "not_found", "tus: no such resource")
	errVersion        = fault.New(fault.Precondition, "tus_version_unsupported", "tus: Tus-Resumable 1.0.0 required")
	errMethod         = fault.New(fault.NotAllowed, "method_not_allowed", "tus: method not allowed")
	errDeferLength    = fault.New(fault.Invalid, "defer_length_unsupported", "tus: Upload-Defer-Length not supported")
	errUploadLength   = fault.New(fault.Invalid, "bad_upload_length", "tus: bad Upload-Length")
	errUploadOffset   = fault.New(fault.Invalid, "bad_upload_offset", "tus: bad Upload-Offset")
	errMetadata       = fault.New(fault.Invalid, "bad_metadata", "tus: malformed Upload-Metadata")
	errContentType    = fault.New(fault.Unsupported, "unsupported_media_type", "tus: wrong Content-Type")
	errChecksumAlgo   = fault.New(fault.Invalid, "checksum_algorithm_unsupported", "tus: checksum algorithm not supported")
	errChecksum       = fault.New(fault.Invalid, "bad_checksum", "tus: malformed Upload-Checksum")
	errChunkTimeout   = fault.New(fault.Timeout, "chunk_timeout", "tus: body stalled past the read timeout")
	errBodyIncomplete = fault.New(fault.Invalid, "body_incomplete", "tus: body ended early")
	errBusy           = fault.New(fault.Unavailable, "busy", "tus: memory budget exhausted")
	errLengthTooLarge = fault.New(fault.TooLarge, "upload_too_large", "tus: Upload-Length above the maximum size")
	errBodyPastLength = fault.New(fault.TooLarge, "upload_too_large", "tus: body runs past Upload-Length")
)

// messages holds what a client reads for each code: tus clients are programs, so the
// messages are plain English (the REST API's are in the catalog, in French and English).
var messages = map[string]string{
	"not_found":                      "no such resource",
	"unauthorized":                   "authentication required",
	"tus_version_unsupported":        "Tus-Resumable: " + Version + " is required",
	"method_not_allowed":             "method not allowed",
	"defer_length_unsupported":       "Upload-Defer-Length is not supported",
	"bad_upload_length":              "Upload-Length must be a non-negative integer",
	"bad_upload_offset":              "Upload-Offset must be a non-negative integer",
	"bad_metadata":                   "Upload-Metadata is malformed or was refused",
	"unsupported_media_type":         "Content-Type must be " + OffsetContentType,
	"checksum_algorithm_unsupported": "Upload-Checksum algorithm must be one of " + ChecksumAlgorithms,
	"bad_checksum":                   "Upload-Checksum is malformed",
	"chunk_timeout":                  "the body stalled past the read timeout",
	"body_incomplete":                "the body ended early",
	"busy":                           "the server is busy: retry later",
	"upload_not_found":               "no such upload",
	"upload_expired":                 "the upload has expired",
	"offset_mismatch":                "Upload-Offset is not the upload's offset",
	"checksum_mismatch":              "the chunk does not match Upload-Checksum; it was discarded",
	"chunk_incomplete":               "the chunk ended before it could be verified; it was discarded",
	"upload_too_large":               "the upload exceeds its length or the maximum size",
	"upload_locked":                  "another request is writing this upload",
	"unavailable":                    "the service is unavailable: retry later",
	"internal":                       "internal error",
}

// errorStatus maps an error to the status, code and message the client sees: the status of
// its kind (httpd/status), its code, and the code's message.
func errorStatus(err error) (st int, code, message string) {
	st, code = status.OfError(err)
	message, ok := messages[code]
	if !ok {
		message = "error " + code
	}
	return st, code, message
}
