package status

import (
	"github.com/valyala/fasthttp"
	"testing"

	"valise/fault"
)

// TestEveryKind checks that every kind has its own status, and that the errors a client
// must retry carry Retry-After (issue 17 item 2).
func TestEveryKind(t *testing.T) {
	seen := map[int]fault.Kind{}
	for _, k := range fault.Kinds() {
		s := Of(k)
		if k != fault.Internal && s == fasthttp.StatusInternalServerError {
			t.Errorf("kind %v has no status of its own", k)
		}
		if o, dup := seen[s]; dup {
			t.Errorf("kinds %v and %v both answer %d", o, k, s)
		}
		seen[s] = k
	}
	if got := Of(fault.Kind(250)); got != fasthttp.StatusInternalServerError {
		t.Errorf("Of(unknown kind) = %d, want 500", got)
	}
}

// TestRetryAfter checks the Retry-After of each kind of refusal that asks for a retry.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		want   string
	}{
		{"too many attempts", fasthttp.StatusTooManyRequests, "too_many_attempts", "60"},
		{"rate limited", fasthttp.StatusTooManyRequests, "rate_limited", "60"},
		{"busy", fasthttp.StatusTooManyRequests, "busy", "5"},
		{"unavailable", fasthttp.StatusServiceUnavailable, "unavailable", "5"},
		{"not found", fasthttp.StatusNotFound, "link_not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryAfter(tc.status, tc.code); got != tc.want {
				t.Errorf("RetryAfter(%d, %q) = %q, want %q", tc.status, tc.code, got, tc.want)
			}
		})
	}
}
