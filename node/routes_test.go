package node

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"valise/httpd"
	"valise/httpd/api"
	"valise/httpd/web"
)

// checkDefaultDeny walks every route the node's HTTPS server registers and asserts that none
// answers a stranger but those the contract names (docs/design.md, the HTTP contract): the probes, /ca.pem, the
// OpenAPI document, the link routes (the link token is the credential), the web UI's login
// page and static files. Unknown paths are 404; the tus uploads are 401 for every method.
func checkDefaultDeny(t *testing.T, dataDir, httpsAddr string) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "keys", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + httpsAddr
	// doResp answers the status and the Location header; redirects are not followed.
	doResp := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	do := func(method, path string) int {
		status, _ := doResp(method, path)
		return status
	}
	contractPublic := func(pattern string) bool {
		return pattern == "/api/v1/openapi.json" || strings.HasPrefix(pattern, "/s/{token}") ||
			strings.HasPrefix(pattern, "/api/v1/links/{token}")
	}
	for _, r := range api.Routes() {
		path := strings.NewReplacer("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "{id}", "01a20000-0000-7000-8000-000000000000",
			"{fileID}", "01a20000-0000-7000-8000-000000000000").Replace(r.Pattern)
		t.Run(r.Method+" "+r.Pattern, func(t *testing.T) {
			if r.Public && !contractPublic(r.Pattern) {
				t.Fatalf("%s %s is public, but the contract names no such route", r.Method, r.Pattern)
			}
			got := do(r.Method, path)
			if !r.Public && got != http.StatusUnauthorized {
				t.Fatalf("%s %s without credentials: %d, want 401", r.Method, path, got)
			}
			if r.Public && got/100 == 2 && strings.Contains(r.Pattern, "{token}") {
				t.Fatalf("%s %s with an unknown link token: %d", r.Method, path, got)
			}
		})
	}
	// The web UI: the login page (with its form and language switch, both refused without
	// their CSRF token) and the static files answer a stranger; every other page sends them
	// to the login page, every other form is refused.
	webPublic := map[string]int{
		"GET /":         http.StatusSeeOther, // to /login
		"GET /login":    http.StatusOK,
		"POST /login":   http.StatusForbidden,
		"POST /lang":    http.StatusForbidden,
		"GET /static/*": http.StatusOK, // style.css
		// A recipient's pages and forms (issue 17 item 3): an unknown link is dead.
		"GET /s/{token}":              http.StatusNotFound,
		"POST /s/{token}/password":    http.StatusNotFound,
		"POST /s/{token}/code":        http.StatusNotFound,
		"POST /s/{token}/code/verify": http.StatusNotFound,
	}
	for _, r := range web.Routes() {
		key := r.Method + " " + r.Pattern
		path := strings.NewReplacer("{id}", "01a20000-0000-7000-8000-000000000000", "*", "style.css",
			"{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").Replace(r.Pattern)
		t.Run("web "+key, func(t *testing.T) {
			want, contract := webPublic[key]
			if r.Public != contract {
				t.Fatalf("%s: public %v, but the contract says %v", key, r.Public, contract)
			}
			got, loc := doResp(r.Method, path)
			switch {
			case r.Public && got != want:
				t.Fatalf("%s %s without credentials: %d, want %d", r.Method, path, got, want)
			case r.Public && got == http.StatusSeeOther && loc != "/login":
				t.Fatalf("%s %s: redirected to %q, want /login", r.Method, path, loc)
			case !r.Public && r.Method == http.MethodGet && (got != http.StatusSeeOther || loc != "/login"):
				t.Fatalf("%s %s without a session: %d to %q, want 303 to /login", r.Method, path, got, loc)
			case !r.Public && r.Method != http.MethodGet && got != http.StatusForbidden:
				t.Fatalf("%s %s without a session: %d, want 403", r.Method, path, got)
			}
		})
	}
	for _, m := range []string{http.MethodPost, http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodDelete} {
		for _, p := range []string{httpd.UploadsPrefix, httpd.UploadsPrefix + "/01a20000-0000-7000-8000-000000000000"} {
			t.Run("tus "+m+" "+p, func(t *testing.T) {
				if got := do(m, p); got != http.StatusUnauthorized {
					t.Fatalf("%s %s without credentials: %d, want 401", m, p, got)
				}
			})
		}
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"GET", "/ca.pem", 200},
		{"GET", "/static/no-such-file.js", 404},
		{"GET", "/sent/", 404},
		{"GET", "/admin", 404},
		{"GET", "/metrics", 404},
		{"GET", "/api/v1", 404},
		{"GET", "/api/v1/unknown", 404},
		{"GET", "/s/", 404},
		{"GET", "/static/../keys/ca.key", 404},
		{"POST", "/healthz", 405},
		// A joining node's request (issue 18): the join token in its body is the credential.
		{"GET", JoinPath, 405},
		{"POST", JoinPath, 415},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if got := do(tc.method, tc.path); got != tc.want {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, got, tc.want)
			}
		})
	}
}
