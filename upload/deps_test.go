package upload_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps upload a domain package (issue 17 item 7): it stores the bytes through
// blobstore and records everything through transfer, never through raftfsm itself, and
// knows nothing of HTTP or tus (httpd/uploads adapts it).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: depstest.Merge(depstest.AboveDomain(), map[string]string{
			"valise/adminapi":    "wire types belong to the front ends",
			"valise/account/...": "who is asking is the front end's question; quotas come through transfer",
		}),
		DenyDirect: map[string]string{
			"valise/raftfsm/...":                 "metadata only through transfer, which keeps the records",
			"github.com/dgraph-io/badger/v4/...": "metadata only through transfer",
			"github.com/hashicorp/raft":          "metadata only through transfer",
			"net/http":                           "no HTTP in the domain",
		},
	})
}
