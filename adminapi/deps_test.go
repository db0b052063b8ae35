package adminapi

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps adminapi a leaf: the console links it and must never link the node's stores,
// so it imports the standard library only.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") || strings.HasPrefix(imp, "valise/") && imp != "valise/fault" {
			t.Errorf("adminapi imports %s: it must import only the standard library", imp)
		}
	}
}
