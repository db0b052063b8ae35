package scan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
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
		{"scan error", NotScanned(ReasonScanError), "not_scanned", "not scanned (scan_error)", false},
		{"clean, test signatures only", Verdict{Kind: KindClean, TestSignaturesOnly: true}, "clean", "clean (test signatures only)", true},
		{"clean in windows, test signatures only", Verdict{Kind: KindCleanInWindows, TestSignaturesOnly: true}, "clean_windows", "clean (scanned in windows) (test signatures only)", true},
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

// TestCleanVerdictWithTestSignaturesSaysSo guards issue 16 item 7: a clamd with only the
// built-in test signatures (the default of an offline node) answered "stream: OK" for any
// ordinary file, and the verdict was a plain clean one, shown as "sain". Its clean verdicts,
// whole or in windows, must now say that nothing real was checked; a match (EICAR) stays a
// real infected verdict.
func TestCleanVerdictWithTestSignaturesSaysSo(t *testing.T) {
	c := realClamd(t)
	if !c.TestSignaturesOnly {
		t.Fatal("the Daemon's client of a clamd with test signatures only does not say so")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := randomBytes(300<<10, 16)
	open := func(src []byte) func(off, n int64) (io.ReadCloser, error) {
		return func(off, n int64) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(src[off : off+n])), nil
		}
	}
	for _, tc := range []struct {
		name string
		scan func(c *Client) (Verdict, error)
		want Verdict
	}{
		{"one stream", func(c *Client) (Verdict, error) { return c.Scan(ctx, bytes.NewReader(data)) }, Clean()},
		{"windows", func(c *Client) (Verdict, error) {
			return c.ScanWindows(ctx, open(data), int64(len(data)), 128<<10, 4<<10)
		}, CleanInWindows()},
		{"eicar", func(c *Client) (Verdict, error) { return c.Scan(ctx, bytes.NewReader(withEICAR(4096, 100))) },
			Infected("Valise.Test.EICAR.UNOFFICIAL")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.scan(c)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.TestSignaturesOnly = want.IsClean()
			if v != want {
				t.Fatalf("verdict %v, want %v", v, want)
			}
			if want.IsClean() && !strings.Contains(v.String(), "test signatures only") {
				t.Fatalf("verdict %q does not say test signatures only", v)
			}
			// A client that does not claim test signatures (an official database) gives
			// the plain verdict.
			real := *c
			real.TestSignaturesOnly = false
			if v, err := tc.scan(&real); err != nil || v != tc.want {
				t.Fatalf("with real signatures: %v, %v; want %v", v, err, tc.want)
			}
		})
	}
}
