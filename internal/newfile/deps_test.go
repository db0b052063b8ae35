package newfile_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps newfile a leaf helper on the standard library (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{},
		AllowWhy: "internal packages use the standard library only",
	})
}
