package scan

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps scan on the standard library: it runs inside the node next to the byte path,
// and its clamd client replaced a third-party one that leaked goroutines (docs/dependencies.md).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") || first == "valise" {
			t.Errorf("scan imports %s: it must use the standard library only", imp)
		}
	}
}
