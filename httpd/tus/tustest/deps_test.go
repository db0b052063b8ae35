package tustest

import (
	"go/build"
	"testing"
)

// TestDeps keeps the reference backend self-contained: plain files, no stores.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"valise/node":                    "nothing but cmd imports the composition root",
		"valise/httpd":                   "a tus test helper needs no HTTPS front end",
		"valise/raftfsm":                 "the reference backend is plain files",
		"valise/blobstore":               "the reference backend is plain files",
		"github.com/dgraph-io/badger/v4": "the reference backend is plain files",
	}
	for _, imp := range pkg.Imports {
		if why, ok := banned[imp]; ok {
			t.Errorf("tustest imports %s: %s", imp, why)
		}
	}
}
