package fault

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps fault a base package: every package may import it, so it imports nothing of
// Valise's (issue 17 item 2).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "valise/") || strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("fault imports %s: it may use the standard library only", imp)
		}
	}
}
