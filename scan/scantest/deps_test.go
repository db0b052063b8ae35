package scantest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the clamd test helpers below the front ends (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/testlog", "valise/scan"},
		AllowWhy: "scantest drives a real clamd for the tests of scan and needs nothing else",
	})
}
