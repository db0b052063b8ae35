package blobstore_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps guards the dependency direction (docs/style.md §1): blobstore stores bytes and knows
// nothing of users or metadata, so it imports only the standard library, reedsolomon and
// klauspost/compress.
func TestDeps(t *testing.T) {
	allowed := []string{"github.com/klauspost/reedsolomon", "github.com/klauspost/compress/"}
	forbidden := map[string]string{
		"valise/raftfsm":                 "metadata is the caller's: blobstore returns manifests",
		"valise/account":                 "blobstore knows no users",
		"valise/transfer":                "transfer uses blobstore, not the reverse",
		"valise/node":                    "only cmd imports node",
		"github.com/dgraph-io/badger/v4": "no metadata store in the byte path",
		"github.com/hashicorp/raft":      "no Raft in the byte path",
		"github.com/valyala/fasthttp":    "no HTTP in the byte path",
	}
	for _, dir := range []string{".", "blobtest"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			if why, ok := forbidden[imp]; ok {
				t.Errorf("%s imports %s: %s", dir, imp, why)
				continue
			}
			if !strings.Contains(strings.Split(imp, "/")[0], ".") || strings.HasPrefix(imp, "valise/blobstore") {
				continue // standard library, or blobstore itself (blobtest)
			}
			ok := false
			for _, a := range allowed {
				ok = ok || imp == a || strings.HasPrefix(imp, a)
			}
			if !ok {
				t.Errorf("%s imports %s: only the standard library, reedsolomon and klauspost/compress are allowed", dir, imp)
			}
		}
	}
}
