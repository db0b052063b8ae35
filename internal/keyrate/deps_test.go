package keyrate_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps keyrate a leaf helper: the standard library and x/time/rate only (docs/style.md
// §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"golang.org/x/time/rate"},
		AllowWhy: "keyrate is a leaf helper on the standard library and x/time/rate",
	})
}
