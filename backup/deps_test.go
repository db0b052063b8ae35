package backup_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps backup a file format: the standard library, age and keyring's Bundle; it
// knows nothing of Raft or the node (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"filippo.io/age/...", "filippo.io/hpke/...", "golang.org/x/crypto/...", "valise/keyring", "valise/fault"},
		AllowWhy: "backup is a file format over age and the keyring's bundle",
	})
}
