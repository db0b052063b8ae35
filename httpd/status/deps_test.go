package status_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps status importable by every package under httpd: it uses fault, fasthttp's
// status names and the standard library only, never net/http (issue 17 item 2).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:      []string{"valise/fault", "github.com/valyala/fasthttp"},
		AllowWhy:   "status maps fault's kinds to fasthttp's status codes and needs nothing else",
		DenyDirect: map[string]string{"net/http": "fasthttp serves; net/http is for test clients"},
	})
}
