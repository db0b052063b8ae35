package blobtest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps blobtest beside blobstore: the disks it gives need nothing else
// (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/internal/testlog", "valise/blobstore"},
		AllowWhy: "blobtest tests the disks of blobstore and needs nothing else",
		Deny: map[string]string{
			"github.com/dgraph-io/badger/v4/...": "no metadata store in the byte path",
			"github.com/hashicorp/raft":          "no Raft in the byte path",
			"github.com/valyala/...":             "no HTTP in the byte path",
		},
	})
}
