package clustertest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps clustertest a driver of the appliance binary: it talks to nodes through the
// command line and HTTPS only, and decodes answers with adminapi's types (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/adminapi", "valise/internal/poll", "valise/internal/depstest", "valise/scan/scantest", "valise/scan", "valise/internal/testlog"},
		AllowWhy: "clustertest drives real processes; it may import only adminapi's types and test helpers",
	})
}
