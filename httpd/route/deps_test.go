package route_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps route a leaf that both httpd/api and httpd/web import: the standard library
// only, so that the router knows no front end and no domain (issue 17 item 3).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{},
		AllowWhy: "route matches paths with the standard library only",
	})
}
