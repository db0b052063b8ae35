package raftnet

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps: raftnet sits just above raftfsm and the cluster port. It must not reach up into
// the domain or the node (imports point one way, docs/style.md §1), and production code must not
// link the test harness or testing.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"valise/raftfsm": true, "valise/internal/clusternet": true}
	for _, imp := range pkg.Imports {
		switch {
		case imp == "testing" || strings.HasSuffix(imp, "test"):
			t.Errorf("raftnet imports %s: test code stays in _test files", imp)
		case strings.HasPrefix(imp, "valise/") && !allowed[imp]:
			t.Errorf("raftnet imports %s: only raftfsm and internal/clusternet are allowed", imp)
		}
	}
}
