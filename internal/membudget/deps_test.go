package membudget

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps membudget a leaf: the standard library only.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") || strings.HasPrefix(imp, "valise") {
			t.Errorf("membudget imports %s: internal packages use the standard library only", imp)
		}
	}
}
