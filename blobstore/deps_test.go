package blobstore_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps blobstore below every other Valise package: it stores bytes and knows nothing
// of users or metadata (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"github.com/klauspost/reedsolomon", "github.com/klauspost/compress/...", "valise/internal/logkey"},
		AllowWhy: "only the standard library, reedsolomon, klauspost/compress and the log keys are allowed",
		Except:   []string{"valise/internal/logkey"},
		Deny: map[string]string{
			"valise/...":                         "blobstore sits below every other Valise package: metadata is the caller concern",
			"github.com/dgraph-io/badger/v4/...": "no metadata store in the byte path",
			"github.com/hashicorp/raft":          "no Raft in the byte path",
			"github.com/valyala/...":             "no HTTP in the byte path",
		},
	})
}
