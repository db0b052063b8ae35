package web_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the web UI a front end: it calls the domain packages, never a store, and the
// browser that drives its tests stays in the tests (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveHTTPD(), map[string]string{
			"valise/httpd":            "httpd mounts the web UI, not the other way round",
			"valise/httpd/api/...":    "the web UI and the REST API are siblings",
			"valise/tui/...":          "front ends are siblings",
			"github.com/chromedp/...": "the browser drives tests only",
		}),
		DenyDirect: depstest.Merge(depstest.Stores(), map[string]string{
			"valise/keyring": "keys belong to the byte path",
			"net/http":       "fasthttp serves; net/http is for test clients",
		}),
	})
}
