package uploads

import (
	"go/build"
	"testing"
)

// TestDeps keeps the adapter thin: tus above, transfer below, nothing else of the project
// (docs/style.md §1: imports point down).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"valise/httpd/tus": true, "valise/transfer": true, "valise/account": true}
	for _, imp := range pkg.Imports {
		if len(imp) > 7 && imp[:7] == "valise/" && !allowed[imp] {
			t.Errorf("uploads imports %s: it adapts transfer to tus and needs nothing else of the project", imp)
		}
	}
}
