package transfertest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the transfer test helpers below the front ends (docs/style.md §1): a
// test-support package itself, it may use the test logger.
func TestDeps(t *testing.T) {
	deny := depstest.AboveDomain()
	delete(deny, "valise/internal/testlog")
	depstest.Check(t, depstest.Rule{Deny: deny})
}
