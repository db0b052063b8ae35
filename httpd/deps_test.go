package httpd_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps httpd off the stores and the composition root: it reaches the stores
// through the interfaces it declares (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveHTTPD(), depstest.Stores()),
		DenyDirect: map[string]string{
			"net/http/httputil": "fasthttp serves; no net/http proxying",
		},
	})
}
