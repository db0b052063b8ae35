package shardnet_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps shardnet in blobstore's layer: it carries disks over the cluster port and
// knows nothing of HTTP, users, metadata or the node (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/blobstore", "valise/internal/clusternet", "valise/internal/logkey"},
		AllowWhy: "shardnet serves blobstore disks over clusternet and needs nothing else",
		Except:   []string{"valise/blobstore", "valise/internal/clusternet", "valise/internal/logkey"},
		Deny: map[string]string{
			"valise/...":                         "shardnet sits in blobstore's layer, below every domain package",
			"github.com/dgraph-io/badger/v4/...": "no metadata store in the byte path",
			"github.com/hashicorp/raft":          "no Raft in the byte path",
			"github.com/valyala/...":             "no HTTP in the byte path",
		},
		DenyDirect: map[string]string{
			"testing": "test code stays in _test files",
		},
	})
}
