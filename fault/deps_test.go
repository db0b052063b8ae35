package fault_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps fault a base package: every package may import it, so it imports nothing
// but the standard library (issue 17 item 2).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{},
		AllowWhy: "fault may use the standard library only: every package imports it",
	})
}
