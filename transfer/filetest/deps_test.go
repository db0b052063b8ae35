package filetest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the file test helpers below the front ends (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.AboveDomain(),
	})
}
