package httpd

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps httpd off the stores: it reaches them through the interfaces it declares,
// never by importing them or the composition root.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"valise/node":                                 "nothing but cmd imports the composition root",
		"valise/raftfsm":                              "httpd never touches the metadata store directly",
		"valise/blobstore":                            "httpd never touches shard files directly",
		"github.com/dgraph-io/badger/v4":              "httpd never touches Badger",
		"github.com/hashicorp/raft":                   "httpd never touches Raft",
		"net/http/httputil":                           "fasthttp serves; no net/http proxying",
		"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
	}
	for _, imp := range pkg.Imports {
		if why, ok := banned[imp]; ok || strings.HasPrefix(imp, "valise/cmd") {
			t.Errorf("httpd imports %s: %s", imp, why)
		}
	}
}
