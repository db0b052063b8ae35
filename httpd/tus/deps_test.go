package tus

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps tus a protocol layer: it reaches storage through Backend only, and never
// buffers bodies through net/http adapters (docs/dependencies.md, trap 5).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"valise/node":                                 "nothing but cmd imports the composition root",
		"valise/httpd":                                "httpd mounts tus, not the other way round",
		"valise/httpd/tus/tustest":                    "the file backend is for tests only",
		"valise/raftfsm":                              "uploads reach metadata through Backend",
		"valise/blobstore":                            "uploads reach shards through Backend",
		"github.com/dgraph-io/badger/v4":              "tus never touches Badger",
		"github.com/hashicorp/raft":                   "tus never touches Raft",
		"net/http":                                    "fasthttp serves; net/http is for test clients",
		"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
	}
	for _, imp := range pkg.Imports {
		if why, ok := banned[imp]; ok || strings.HasPrefix(imp, "valise/cmd") {
			t.Errorf("tus imports %s: %s", imp, why)
		}
	}
}
