package clusternet_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps clusternet a leaf helper on the standard library (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/logkey"},
		AllowWhy: "internal packages use the standard library only (and the log keys, a leaf of constants)",
	})
}
