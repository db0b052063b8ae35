package transfertest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the transfer test helpers below the front ends (docs/style.md §1): a
// test-support package itself, it may use the test logger.
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{Deny: withTestLogger(depstest.AboveDomain())})
}

// withTestLogger lifts a rule's ban on internal/testlog, for a test-support package.
func withTestLogger(deny map[string]string) map[string]string {
	delete(deny, "valise/internal/testlog")
	return deny
}
