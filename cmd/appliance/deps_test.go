package main_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps cmd/appliance a thin shell over node (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/node", "valise/adminapi", "valise/internal/newfile", "github.com/spf13/cobra"},
		AllowWhy: "cmd/appliance may import only node, adminapi, cobra and newfile (the files it writes for the operator, as the console does)",
		Deny: depstest.Merge(depstest.TestOnly(), map[string]string{
			"valise/tui/...": "the console runs in its own binary, over adminapi",
			"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
		}),
	})
}
