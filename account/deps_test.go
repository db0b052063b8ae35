package account_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps account a domain package: it records through raftfsm and never reaches
// Badger, Raft, the byte path or anything above the domain (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveDomain(), map[string]string{
			"valise/adminapi":      "wire types belong to the front ends",
			"valise/blobstore/...": "accounts know nothing of file bytes",
			"valise/keyring":       "passwords and tokens need no cluster keys",
		}),
		DenyDirect: map[string]string{
			"github.com/dgraph-io/badger/v4/...": "the metadata is raftfsm's: go through it",
			"github.com/hashicorp/raft":          "the metadata is raftfsm's: go through it",
		},
	})
}
