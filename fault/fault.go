// Package fault gives errors a kind and a stable code, so that each front end maps kinds to
// its own answers in one place: HTTP statuses in httpd/status, admin codes in adminapi
// (issue 17 item 2; docs/style.md §4).
//
// A domain package declares its sentinels with New and wraps them as usual:
//
//	ErrLinkNotFound = fault.New(fault.NotFound, "link_not_found", "transfer: link not found")
//	return fmt.Errorf("open link: %w", ErrLinkNotFound)
//
// errors.Is works on the sentinels as on any error; KindOf and CodeOf read the kind and the
// code of the first error in the chain that has them. An error type with fields implements
// Coded instead. Errors that have no kind are Internal: their text is for the log only.
//
// The package imports nothing of Valise's, so every package may use it.
package fault

import (
	"context"
	"errors"
)

// Kind says what went wrong, in terms a caller can act on; front ends map it to an answer.
// The zero value is Internal.
type Kind uint8

// The kinds. Each says what the caller may do about it.
const (
	Internal     Kind = iota // a bug or a broken dependency: nothing the caller can do
	Invalid                  // the request is malformed or a value is refused: fix it
	Unauthorized             // no valid credential: sign in
	Forbidden                // the credential does not allow it, or a challenge is unmet
	NotFound                 // the thing named does not exist (or is not the caller's)
	NotAllowed               // the operation does not apply to this resource (HTTP method)
	Timeout                  // the request was too slow to arrive
	Conflict                 // the thing is not in a state that allows it: look again
	Gone                     // it existed, and is over for good (expired, used up)
	TooLarge                 // a size is over a limit
	Unsupported              // a format or content type is not supported
	OutOfRange               // the range asked for lies outside the thing
	Locked                   // someone else is changing it right now: retry soon
	RateLimited              // too many attempts: wait, then retry
	Corrupted                // the data arrived damaged (a checksum does not match): resend
	Precondition             // a protocol precondition is unmet (a version header): upgrade
	Unavailable              // the service cannot answer now (no leader, busy, stopping): retry
	numKinds
)

var kindNames = [numKinds]string{
	Internal: "internal", Invalid: "invalid", Unauthorized: "unauthorized", Forbidden: "forbidden",
	NotFound: "not_found", NotAllowed: "not_allowed", Timeout: "timeout", Conflict: "conflict",
	Gone: "gone", TooLarge: "too_large", Unsupported: "unsupported", OutOfRange: "out_of_range",
	Locked: "locked", RateLimited: "rate_limited", Corrupted: "corrupted", Precondition: "precondition",
	Unavailable: "unavailable",
}

// Kinds returns every kind, Internal first, for tables that must cover them all.
func Kinds() []Kind {
	k := make([]Kind, numKinds)
	for i := range k {
		k[i] = Kind(i)
	}
	return k
}

// String returns the kind's name, "not_found"; "kind(N)" for a value outside the list.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind(" + itoa(int(k)) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [4]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// Coded is implemented by errors that know their kind and their stable code. *Error does;
// an error type carrying fields (a file's verdict, an address) may too.
type Coded interface {
	error
	// Kind returns the error's kind.
	Kind() Kind
	// Code returns the error's stable, machine-readable code: lower-case, "_" between words,
	// never changed once published (clients and message catalogs key on it).
	Code() string
}

// Error is a sentinel error with a kind and a code. Create it with New, once, in a var block;
// compare with errors.Is, which matches the pointer.
type Error struct {
	kind Kind
	code string
	text string
}

var _ Coded = (*Error)(nil)

// New returns a sentinel of kind with code and text. text is for logs ("transfer: link not
// found"); what a person reads comes from a message catalog keyed by code.
func New(kind Kind, code, text string) *Error {
	return &Error{kind: kind, code: code, text: text}
}

// Error returns the text given to New.
func (e *Error) Error() string { return e.text }

// Kind returns the kind given to New.
func (e *Error) Kind() Kind { return e.kind }

// Code returns the code given to New.
func (e *Error) Code() string { return e.code }

// InternalCode is the code of an error that has no kind.
const InternalCode = "internal"

// UnavailableCode is the code of an ended context (the caller gave up, or the server is
// stopping).
const UnavailableCode = "unavailable"

// KindOf returns the kind of the first Coded error in err's chain. An ended context
// (context.Canceled, context.DeadlineExceeded) is Unavailable; anything else, and nil, is
// Internal.
func KindOf(err error) Kind {
	if c, ok := coded(err); ok {
		return c.Kind()
	}
	if ended(err) {
		return Unavailable
	}
	return Internal
}

// CodeOf returns the code of the first Coded error in err's chain, the way KindOf finds its
// kind: "unavailable" for an ended context, "internal" for anything else.
func CodeOf(err error) string {
	if c, ok := coded(err); ok {
		return c.Code()
	}
	if ended(err) {
		return UnavailableCode
	}
	return InternalCode
}

func coded(err error) (Coded, bool) {
	var c Coded
	if err == nil || !errors.As(err, &c) {
		return nil, false
	}
	return c, true
}

func ended(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
