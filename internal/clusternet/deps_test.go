package clusternet

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps: the cluster port is a leaf helper (docs/style.md §1: internal/<purpose> imports the standard
// library only), so every package above it may use it without cycles.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") || first == "valise" {
			t.Errorf("clusternet imports %s: it must stay standard-library only", imp)
		}
	}
}
