package checkgate_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps checkgate a leaf test helper on the standard library and poll (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/poll"},
		AllowWhy: "checkgate uses the standard library and poll only",
	})
}
