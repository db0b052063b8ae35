package api

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps the API a front end (docs/style.md §1): it reaches the domain through its own small
// interfaces and never the stores beneath.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"valise/node":                    "nothing but cmd imports the composition root",
		"valise/httpd":                   "httpd mounts the API, not the other way round",
		"valise/blobstore":               "files are read through the Files interface",
		"valise/keyring":                 "keys belong to the byte path",
		"github.com/dgraph-io/badger/v4": "httpd never touches Badger",
		"github.com/hashicorp/raft":      "httpd never touches Raft",
		"net/http":                       "fasthttp serves; net/http is for test clients",
		"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
	}
	for _, imp := range pkg.Imports {
		if why, ok := banned[imp]; ok || strings.HasPrefix(imp, "valise/cmd") || strings.HasPrefix(imp, "valise/tui") {
			t.Errorf("api imports %s: %s", imp, why)
		}
	}
}
