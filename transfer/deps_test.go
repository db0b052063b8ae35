package transfer

import (
	"go/build"
	"testing"
)

// transfer decides; it must not reach up into front ends, nor around raftfsm and blobstore
// into their storage (docs/style.md §1).
func TestForbiddenImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]string{
		"valise/node":                    "only cmd imports the composition root",
		"valise/httpd":                   "front ends sit above the domain",
		"valise/tui":                     "front ends sit above the domain",
		"valise/adminapi":                "wire types belong to front ends",
		"valise/account":                 "link passwords go through the PasswordHasher interface",
		"github.com/valyala/fasthttp":    "no HTTP in the domain",
		"github.com/dgraph-io/badger/v4": "metadata only through raftfsm",
		"github.com/hashicorp/raft":      "metadata only through raftfsm",
		"net/http":                       "no HTTP in the domain",
	}
	for _, imp := range pkg.Imports {
		if why, bad := forbidden[imp]; bad {
			t.Errorf("transfer imports %s: %s", imp, why)
		}
	}
}
