package csp

import (
	"strings"
	"testing"
)

// TestPolicy: each kind of response gets its policy, written once (issue 17 item 3); the
// exact strings are the ones httpd/web and httpd/api sent before they shared this package.
func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		want string
	}{
		{App, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"},
		{LinkPage, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; sandbox allow-forms allow-downloads allow-same-origin"},
		{Static, "default-src 'none'; style-src 'unsafe-inline'; sandbox"},
		{API, "default-src 'none'; frame-ancestors 'none'; sandbox"},
		{Download, "default-src 'none'; frame-ancestors 'none'; sandbox"},
		{Kind(99), "default-src 'none'; frame-ancestors 'none'; sandbox"},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			if got := Policy(tc.kind); got != tc.want {
				t.Errorf("Policy(%v)\n got %q\nwant %q", tc.kind, got, tc.want)
			}
		})
	}
}

// TestPolicyRules: whatever the kind, no policy lets a script run but the web UI's own, none
// allows eval or inline script, and every page but a static file refuses to be framed.
func TestPolicyRules(t *testing.T) {
	for k := range directives {
		t.Run(k.String(), func(t *testing.T) {
			p := Policy(k)
			if strings.Contains(p, "unsafe-eval") || strings.Contains(p, "allow-scripts") || strings.Contains(p, "script-src 'unsafe-inline'") {
				t.Errorf("%v lets a script run: %q", k, p)
			}
			if strings.Contains(p, "script-src") != (k == App) {
				t.Errorf("%v: script-src in %q", k, p)
			}
			if k != Static && !strings.Contains(p, "frame-ancestors 'none'") {
				t.Errorf("%v may be framed: %q", k, p)
			}
		})
	}
}
