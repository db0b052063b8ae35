package userid_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps userid a base package: every layer, from the domain up, names users with it,
// so it imports nothing at all (issue 17 item 5).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{},
		AllowWhy: "userid may use the standard library only: every layer imports it",
	})
}
