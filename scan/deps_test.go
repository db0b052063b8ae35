package scan_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps scan on the standard library: it speaks the clamd protocol itself (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/logkey"},
		AllowWhy: "scan uses the standard library only (and the log keys)",
	})
}
