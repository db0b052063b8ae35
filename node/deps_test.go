package node

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps the composition root below the command line and off the console's UI:
// cmd imports node, never the reverse; the console's screens reach a node only through
// adminapi.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		switch {
		case strings.HasPrefix(imp, "valise/cmd"):
			t.Errorf("node imports %s: imports point from cmd to node, never back", imp)
		case imp == "valise/tui" || strings.HasPrefix(imp, "charm.land/"):
			t.Errorf("node imports %s: the console's UI runs in its own binary, over adminapi", imp)
		case imp == "github.com/valyala/fasthttp/fasthttpadaptor":
			t.Errorf("node imports %s: it buffers whole bodies (docs/dependencies.md, trap 5)", imp)
		}
	}
}
