package certstore

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps certstore a domain package (docs/style.md §1): it records through raftfsm and
// reaches the CA and the key-encryption key through the interfaces it declares.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]string{
		"valise/node":                    "nothing but cmd imports the composition root",
		"valise/httpd":                   "front ends call domain packages, not the reverse",
		"valise/tui":                     "front ends call domain packages, not the reverse",
		"valise/adminapi":                "wire types belong to the front ends",
		"valise/blobstore":               "certificates are metadata, not file bytes",
		"valise/keyring":                 "the CA and the KEK come in through the CA and Sealer interfaces",
		"github.com/dgraph-io/badger/v4": "the metadata is raftfsm's: go through it",
		"github.com/hashicorp/raft":      "the metadata is raftfsm's: go through it",
		"github.com/valyala/fasthttp":    "no HTTP in the domain",
	}
	for _, imp := range pkg.Imports {
		for bad, why := range forbidden {
			if imp == bad || strings.HasPrefix(imp, bad+"/") {
				t.Errorf("certstore imports %s: %s", imp, why)
			}
		}
	}
}
