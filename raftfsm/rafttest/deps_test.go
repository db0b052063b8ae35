package rafttest

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps: the harness builds on raftfsm and its transport only; it must not import domain
// packages or the node, which build on it in their own tests.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"valise/raftfsm": true, "valise/raftfsm/raftnet": true,
		"valise/internal/clusternet": true, "valise/internal/clusternet/clustertest": true,
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "valise/") && !allowed[imp] {
			t.Errorf("rafttest imports %s", imp)
		}
	}
}
