package adminapi_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the adminapi wire types importable by the console without the server
// (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/fault", "valise/internal/logkey"},
		AllowWhy: "adminapi imports only the standard library, fault (error kinds) and the log keys",
	})
}
