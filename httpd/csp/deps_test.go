package csp_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps csp a leaf that both httpd/api and httpd/web import: the standard library
// only (issue 17 item 3).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{},
		AllowWhy: "csp builds header values from the standard library only",
	})
}
