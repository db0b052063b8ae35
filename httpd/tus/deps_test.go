package tus_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the tus server generic: it reaches uploads through Backend and never a store
// (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveHTTPD(), depstest.Stores(), map[string]string{
			"valise/httpd":             "httpd mounts tus, not the other way round",
			"valise/httpd/tus/tustest": "the file backend is for tests only",
		}),
		DenyDirect: map[string]string{
			"net/http": "fasthttp serves; net/http is for test clients",
		},
	})
}
