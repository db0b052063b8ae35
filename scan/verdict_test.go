package scan

import (
	"errors"
	"strings"
	"testing"
)

func TestVerdictCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      Verdict
		code   string
		str    string
		isSafe bool
	}{
		{"clean", Clean(), "clean", "clean", true},
		{"infected", Infected("Eicar-Sig"), "infected", "infected (Eicar-Sig)", false},
		{"too large", NotScanned(ReasonTooLarge), "not_scanned", "not scanned (too_large)", false},
		{"scanner down", NotScanned(ReasonScannerDown), "not_scanned", "not scanned (scanner_down)", false},
		{"clean in windows", CleanInWindows(), "clean_windows", "clean (scanned in windows)", true},
		{"no verdict", Verdict{}, "", "no verdict", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v.Code() != tc.code || tc.v.String() != tc.str || tc.v.IsClean() != tc.isSafe {
				t.Fatalf("code %q string %q clean %v", tc.v.Code(), tc.v.String(), tc.v.IsClean())
			}
			if tc.code == "" {
				return
			}
			k, err := ParseKind(tc.code)
			if err != nil || k != tc.v.Kind {
				t.Fatalf("ParseKind(%q) = %v, %v", tc.code, k, err)
			}
			r, err := ParseReason(tc.v.Reason.Code())
			if err != nil || r != tc.v.Reason {
				t.Fatalf("ParseReason(%q) = %v, %v", tc.v.Reason.Code(), r, err)
			}
		})
	}
	if _, err := ParseKind("cleanish"); !errors.Is(err, ErrBadCode) {
		t.Fatalf("ParseKind accepted an unknown code: %v", err)
	}
	if _, err := ParseReason("tired"); !errors.Is(err, ErrBadCode) {
		t.Fatalf("ParseReason accepted an unknown code: %v", err)
	}
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		want  Verdict
		bad   bool
	}{
		{"ok", "stream: OK", Clean(), false},
		{"ok with nul and newline", "stream: OK\n\x00", Clean(), false},
		{"found", "stream: Valise.Test.EICAR.UNOFFICIAL FOUND", Infected("Valise.Test.EICAR.UNOFFICIAL"), false},
		{"size limit", "INSTREAM size limit exceeded. ERROR", NotScanned(ReasonTooLarge), false},
		{"file size alert", "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
			Verdict{Kind: KindNotScanned, Reason: ReasonTooLarge, Signature: "Heuristics.Limits.Exceeded.MaxFileSize"}, false},
		{"recursion alert", "stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND",
			Verdict{Kind: KindNotScanned, Reason: ReasonLimitExceeded, Signature: "Heuristics.Limits.Exceeded.MaxRecursion"}, false},
		{"other error", "stream: lstat() failed ERROR", Verdict{}, true},
		{"ok without prefix", "OK", Verdict{}, true},
		{"found without name", "stream: FOUND", Verdict{}, true},
		{"empty", "", Verdict{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseReply(tc.reply)
			if tc.bad != (err != nil) || v != tc.want {
				t.Fatalf("ParseReply(%q) = %v, %v", tc.reply, v, err)
			}
			if tc.bad && !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v is not ErrBadReply", err)
			}
		})
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		"stream: OK", "stream: X FOUND", "INSTREAM size limit exceeded. ERROR",
		"stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND", "stream:  FOUND", "stream: a\nb FOUND", "",
		"stream: OK FOUND", "\x00\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := ParseReply(reply)
		if err != nil {
			if v != (Verdict{}) || !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v with verdict %v", err, v)
			}
			return
		}
		if v.Kind == KindUnknown || v.Code() == "" {
			t.Fatalf("no error and no verdict for %q", reply)
		}
		if strings.Contains(reply, "size limit exceeded") && v.IsClean() {
			t.Fatalf("%q is clean", reply)
		}
		if v.IsClean() && strings.TrimRight(reply, "\x00\r\n") != "stream: OK" {
			t.Fatalf("%q is clean", reply)
		}
		if v.Kind == KindInfected && (v.Signature == "" || strings.ContainsAny(v.Signature, "\r\n\x00")) {
			t.Fatalf("signature %q from %q", v.Signature, reply)
		}
	})
}
