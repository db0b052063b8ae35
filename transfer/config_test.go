package transfer

import (
	"strings"
	"testing"
)

func TestPolicySendable(t *testing.T) {
	for _, tc := range []struct {
		name          string
		release, skip bool
		v             Verdict
		reason        string
		want          bool
	}{
		{"clean", false, false, VerdictClean, "", true},
		{"clean in windows", false, false, VerdictCleanWindows, "", true},
		{"infected, whatever the policy", true, true, VerdictInfected, "Eicar-Signature", false},
		{"pending, whatever the policy", true, true, VerdictPending, "", false},
		{"scanner down, held", false, true, VerdictNotScanned, "scanner_down", false},
		{"scanner down, released", true, false, VerdictNotScanned, "scanner_down", true},
		{"too large, scanned in windows", true, false, VerdictNotScanned, "too_large", false},
		{"too large, not scanned", false, true, VerdictNotScanned, "too_large", true},
		{"limit exceeded, never", true, true, VerdictNotScanned, "limit_exceeded", false},
		// issue 16 item 7: a scan error is never released; test signatures as the policy says.
		{"scan error, never", true, true, VerdictNotScanned, "scan_error", false},
		{"test signatures only, allowed", false, false, VerdictClean, ReasonTestSignaturesOnly, true},
		{"test signatures only, held", false, false, VerdictClean, ReasonTestSignaturesOnly + "/hold", false},
		{"test signatures only in windows, held", true, true, VerdictCleanWindows, ReasonTestSignaturesOnly + "/hold", false},
		{"real signatures under hold", false, false, VerdictClean, "/hold", true},
	} {
		reason, hold := strings.CutSuffix(tc.reason, "/hold")
		p := Policy{ReleaseUnscanned: tc.release, SkipLargeScan: tc.skip, HoldTestSignaturesOnly: hold}
		tc.reason = reason
		if got := p.sendable(tc.v, tc.reason); got != tc.want {
			t.Errorf("%s: sendable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
