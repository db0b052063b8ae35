package node_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps node the composition root: only cmd sits above it (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.TestOnly(), map[string]string{
			"valise/cmd/...": "imports point from cmd to node, never back",
			"valise/tui/...": "the console's UI runs in its own binary, over adminapi",
			"charm.land/...": "the console's UI runs in its own binary, over adminapi",
			"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
		}),
	})
}
