package keyring_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps keyring on the standard library and x/crypto (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"golang.org/x/crypto/..."},
		AllowWhy: "only the standard library and golang.org/x/crypto are allowed",
	})
}
