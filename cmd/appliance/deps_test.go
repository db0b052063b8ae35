package main

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps the command line thin: it parses flags and calls node (init, serve) or the
// admin API (everything else); it never opens the stores itself.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"valise/node": true, "valise/adminapi": true, "github.com/spf13/cobra": true}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") || strings.HasPrefix(imp, "valise/") {
			if !allowed[imp] {
				t.Errorf("cmd/appliance imports %s: it may import only node, adminapi and cobra", imp)
			}
		}
	}
}
