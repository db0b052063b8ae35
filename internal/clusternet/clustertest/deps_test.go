package clustertest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps clustertest a harness of clusternet alone (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/clusternet"},
		AllowWhy: "clustertest tests clusternet and needs nothing else",
	})
}
