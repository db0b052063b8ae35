package scan

import (
	"fmt"
	"strings"
)

// Kind says what a scan concluded.
type Kind uint8

const (
	// KindUnknown is the zero Kind: no verdict (a scan that returned an error).
	KindUnknown Kind = iota
	// KindClean: clamd scanned the whole stream and found nothing.
	KindClean
	// KindInfected: clamd matched a signature; the file is quarantined and never served.
	KindInfected
	// KindNotScanned: the bytes were not (all) scanned; Reason says why. Never treated as clean.
	KindNotScanned
	// KindCleanInWindows: a file beyond clamd's stream limit was scanned in overlapping windows
	// and no window matched. Users are told "clean (scanned in windows)".
	KindCleanInWindows
)

// Reason says why a file was not scanned.
type Reason uint8

const (
	// ReasonNone goes with every Kind but KindNotScanned.
	ReasonNone Reason = iota
	// ReasonTooLarge: the stream passed clamd's StreamMaxLength (or its file or scan size
	// limit, which clamd reports as a Heuristics.Limits.Exceeded.Max*Size alert).
	ReasonTooLarge
	// ReasonScannerDown: clamd could not be reached; the file is held until scanned.
	ReasonScannerDown
	// ReasonLimitExceeded: clamd gave up on another limit (recursion depth, file count, scan
	// time: a Heuristics.Limits.Exceeded alert); Verdict.Signature names it.
	ReasonLimitExceeded
	// ReasonScanError: clamd was reached but the scan failed (no reply or a reply that is no
	// verdict, an unreadable stored block, a scan that timed out). Unlike ReasonScannerDown,
	// no policy lets such a file flow: the file is held and scanned again.
	ReasonScanError
)

// Verdict is the outcome of a scan. Build one with Clean, Infected, NotScanned or
// CleanInWindows; the zero Verdict is "no verdict".
type Verdict struct {
	Kind Kind
	// Signature is the matched signature for KindInfected, or the limit alert clamd raised
	// for KindNotScanned (may be empty).
	Signature string
	// Reason is set for KindNotScanned only.
	Reason Reason
	// TestSignaturesOnly is set on a clean verdict (KindClean, KindCleanInWindows) given by a
	// clamd that had only the built-in test signatures loaded (Client.TestSignaturesOnly):
	// nothing real was checked, and whoever shows the verdict must say so.
	TestSignaturesOnly bool
}

// Clean is the verdict of a stream clamd scanned whole and found nothing in.
func Clean() Verdict { return Verdict{Kind: KindClean} }

// Infected is the verdict of a stream that matched signature.
func Infected(signature string) Verdict { return Verdict{Kind: KindInfected, Signature: signature} }

// NotScanned is the verdict of a stream that was not scanned, for reason.
func NotScanned(reason Reason) Verdict { return Verdict{Kind: KindNotScanned, Reason: reason} }

// CleanInWindows is the verdict of a large file whose overlapping windows were all clean.
func CleanInWindows() Verdict { return Verdict{Kind: KindCleanInWindows} }

// Verdict codes as stored in the metadata. They never change.
const (
	CodeClean          = "clean"
	CodeInfected       = "infected"
	CodeNotScanned     = "not_scanned"
	CodeCleanInWindows = "clean_windows"
)

// Code is the verdict's stable short code for storage: "clean", "infected", "not_scanned",
// "clean_windows", or "" for the zero Verdict.
func (v Verdict) Code() string { return v.Kind.Code() }

// Code is the stable storage code of k ("" for KindUnknown).
func (k Kind) Code() string {
	switch k {
	case KindClean:
		return CodeClean
	case KindInfected:
		return CodeInfected
	case KindNotScanned:
		return CodeNotScanned
	case KindCleanInWindows:
		return CodeCleanInWindows
	}
	return ""
}

// String names the kind, as Code does, "unknown" for KindUnknown.
func (k Kind) String() string {
	if c := k.Code(); c != "" {
		return c
	}
	return "unknown"
}

// ParseKind turns a storage code back into a Kind.
func ParseKind(code string) (Kind, error) {
	for _, k := range []Kind{KindClean, KindInfected, KindNotScanned, KindCleanInWindows} {
		if k.Code() == code {
			return k, nil
		}
	}
	return KindUnknown, fmt.Errorf("parse verdict kind %q: %w", code, ErrBadCode)
}

// Code is the reason's stable storage code: "too_large", "scanner_down", "limit_exceeded",
// "scan_error", or "" for ReasonNone.
func (r Reason) Code() string {
	switch r {
	case ReasonTooLarge:
		return "too_large"
	case ReasonScannerDown:
		return "scanner_down"
	case ReasonLimitExceeded:
		return "limit_exceeded"
	case ReasonScanError:
		return "scan_error"
	}
	return ""
}

// String names the reason as Code does, "none" for ReasonNone.
func (r Reason) String() string {
	if c := r.Code(); c != "" {
		return c
	}
	return "none"
}

// ParseReason turns a storage code back into a Reason ("" is ReasonNone).
func ParseReason(code string) (Reason, error) {
	for _, r := range []Reason{ReasonNone, ReasonTooLarge, ReasonScannerDown, ReasonLimitExceeded, ReasonScanError} {
		if r.Code() == code {
			return r, nil
		}
	}
	return ReasonNone, fmt.Errorf("parse not-scanned reason %q: %w", code, ErrBadCode)
}

// IsClean reports whether the file may flow as clean: KindClean or KindCleanInWindows.
func (v Verdict) IsClean() bool { return v.Kind == KindClean || v.Kind == KindCleanInWindows }

// String describes the verdict for logs and the console: "clean", "infected (Eicar-Sig)",
// "not scanned (too_large)", "clean (scanned in windows)", and for a clean verdict given with
// the test signatures only "clean (test signatures only)".
func (v Verdict) String() string {
	if v.IsClean() && v.TestSignaturesOnly {
		return v.withoutTestMark().String() + " (test signatures only)"
	}
	switch v.Kind {
	case KindClean:
		return "clean"
	case KindInfected:
		return "infected (" + v.Signature + ")"
	case KindNotScanned:
		s := "not scanned (" + v.Reason.String()
		if v.Signature != "" {
			s += ": " + v.Signature
		}
		return s + ")"
	case KindCleanInWindows:
		return "clean (scanned in windows)"
	}
	return "no verdict"
}

func (v Verdict) withoutTestMark() Verdict {
	v.TestSignaturesOnly = false
	return v
}

// limitAlertPrefix starts the names clamd reports with AlertExceedsMax when it stops scanning
// at a limit rather than at a match.
const limitAlertPrefix = "Heuristics.Limits.Exceeded."

// fromSignature is the verdict of a FOUND reply naming sig.
func fromSignature(sig string) Verdict {
	if rest, ok := strings.CutPrefix(sig, limitAlertPrefix); ok {
		v := NotScanned(ReasonLimitExceeded)
		if strings.HasPrefix(rest, "MaxFileSize") || strings.HasPrefix(rest, "MaxScanSize") {
			v.Reason = ReasonTooLarge
		}
		v.Signature = sig
		return v
	}
	return Infected(sig)
}
