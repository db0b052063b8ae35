package linkgrant_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps linkgrant a leaf that both httpd/api and httpd/web import: fasthttp and the
// standard library, no front end and no domain (issue 17 item 3).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"github.com/valyala/fasthttp"},
		AllowWhy: "linkgrant reads and writes fasthttp requests, and knows nothing else",
	})
}
