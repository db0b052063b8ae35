package transfer_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps transfer a domain package: it decides, and reaches storage only through
// raftfsm and blobstore (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveDomain(), map[string]string{
			"valise/adminapi":    "wire types belong to the front ends",
			"valise/account/...": "link passwords go through the PasswordHasher interface",
			"valise/upload":      "the byte path depends on transfer for its records, not the reverse (issue 17 item 7)",
		}),
		DenyDirect: map[string]string{
			"github.com/dgraph-io/badger/v4/...": "metadata only through raftfsm",
			"github.com/hashicorp/raft":          "metadata only through raftfsm",
			"net/http":                           "no HTTP in the domain",
		},
	})
}
