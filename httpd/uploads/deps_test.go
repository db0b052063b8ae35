package uploads_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps uploads an adapter from the upload pipeline to tus (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:      []string{"valise/httpd/tus", "valise/upload", "valise/transfer", "valise/account", "valise/userid", "valise/internal/logkey", "github.com/valyala/fasthttp"},
		AllowWhy:   "uploads adapts the upload pipeline and transfer's errors to tus, authenticates through account (naming users by userid) and checks a browser's CSRF header, logging with the log keys; it needs nothing else",
		Deny:       depstest.AboveHTTPD(),
		DenyDirect: depstest.Stores(),
	})
}
