package certstore_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps certstore a domain package: certificates are metadata, recorded through
// raftfsm (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveDomain(), map[string]string{
			"valise/adminapi":      "wire types belong to the front ends",
			"valise/blobstore/...": "certificates are metadata, not file bytes",
			"valise/keyring":       "the CA and the KEK come in through the CA and Sealer interfaces",
		}),
		DenyDirect: map[string]string{
			"github.com/dgraph-io/badger/v4/...": "the metadata is raftfsm's: go through it",
			"github.com/hashicorp/raft":          "the metadata is raftfsm's: go through it",
		},
	})
}
