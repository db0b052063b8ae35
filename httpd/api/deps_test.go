package api_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the REST API a front end: it calls the domain packages, never a store
// (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveHTTPD(), map[string]string{
			"valise/httpd":   "httpd mounts the API, not the other way round",
			"valise/tui/...": "front ends are siblings",
		}),
		// Lead: fails today only for valise/raftfsm (errors.go); the error-kinds branch of issue 17
		// item 2 removes that import. Merge it first.
		DenyDirect: depstest.Merge(depstest.Stores(), map[string]string{
			"valise/keyring": "keys belong to the byte path",
			"net/http":       "fasthttp serves; net/http is for test clients",
		}),
	})
}
