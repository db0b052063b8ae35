package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"valise/fault"
)

var (
	errGone    = fault.New(fault.Gone, "link_expired", "test: link expired")
	errMissing = fault.New(fault.NotFound, "link_not_found", "test: link not found")
)

// verdictError is a Coded error type with a field, as transfer's FileNotSendableError.
type verdictError struct{ pending bool }

func (e *verdictError) Error() string { return "test: file not sendable" }
func (e *verdictError) Kind() fault.Kind {
	if e.pending {
		return fault.Conflict
	}
	return fault.Invalid
}
func (e *verdictError) Code() string {
	if e.pending {
		return "file_scanning"
	}
	return "file_not_sendable"
}

// TestKindAndCode checks that the kind and code of an error are those of the first Coded
// error in its chain, whatever wraps it (issue 17 item 2).
func TestKindAndCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		kind fault.Kind
		code string
	}{
		{"nil", nil, fault.Internal, "internal"},
		{"plain error", errors.New("disk on fire"), fault.Internal, "internal"},
		{"sentinel", errGone, fault.Gone, "link_expired"},
		{"wrapped", fmt.Errorf("open link: %w", errMissing), fault.NotFound, "link_not_found"},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", errGone)), fault.Gone, "link_expired"},
		{"outer sentinel wins", fmt.Errorf("%w: %w", errGone, errMissing), fault.Gone, "link_expired"},
		{"joined", errors.Join(errors.New("x"), errMissing), fault.NotFound, "link_not_found"},
		{"typed error", fmt.Errorf("send: %w", &verdictError{}), fault.Invalid, "file_not_sendable"},
		{"typed error, other case", &verdictError{pending: true}, fault.Conflict, "file_scanning"},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), fault.Unavailable, "unavailable"},
		{"deadline", context.DeadlineExceeded, fault.Unavailable, "unavailable"},
		{"sentinel beats context", fmt.Errorf("%w: %w", errMissing, context.Canceled), fault.NotFound, "link_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fault.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := fault.CodeOf(tc.err); got != tc.code {
				t.Errorf("CodeOf = %q, want %q", got, tc.code)
			}
		})
	}
}

// TestSentinelIdentity checks that errors.Is tells sentinels apart even with the same kind
// and code, and that Error returns the log text.
func TestSentinelIdentity(t *testing.T) {
	a := fault.New(fault.Conflict, "same", "test: a")
	b := fault.New(fault.Conflict, "same", "test: b")
	if errors.Is(fmt.Errorf("w: %w", a), b) {
		t.Error("errors.Is matched a different sentinel with the same kind and code")
	}
	if !errors.Is(fmt.Errorf("w: %w", a), a) {
		t.Error("errors.Is did not match the sentinel itself")
	}
	if a.Error() != "test: a" {
		t.Errorf("Error = %q, want the text given to New", a.Error())
	}
}

// TestKindNames checks that every kind has a distinct name and that Kinds lists them all.
func TestKindNames(t *testing.T) {
	seen := map[string]fault.Kind{}
	for _, k := range fault.Kinds() {
		s := k.String()
		if s == "" || s[0] == 'k' && len(s) > 4 && s[:5] == "kind(" {
			t.Errorf("kind %d has no name", k)
		}
		if o, dup := seen[s]; dup {
			t.Errorf("kinds %d and %d share the name %q", o, k, s)
		}
		seen[s] = k
	}
	if fault.Kinds()[0] != fault.Internal {
		t.Error("Kinds does not start with Internal, the zero value")
	}
	if got := fault.Kind(200).String(); got != "kind(200)" {
		t.Errorf("Kind(200).String() = %q", got)
	}
}
