package web

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps the web UI a front end (docs/style.md §1): it reaches the domain through its own
// small interfaces and never the stores beneath; it serves with fasthttp only.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	banned := map[string]string{
		"valise/node":                    "nothing but cmd imports the composition root",
		"valise/httpd":                   "httpd mounts the web UI, not the other way round",
		"valise/httpd/api":               "the web UI and the REST API are siblings",
		"valise/blobstore":               "pages never read file bytes",
		"valise/keyring":                 "keys belong to the byte path",
		"valise/raftfsm":                 "the web UI reaches the metadata through the domain",
		"github.com/dgraph-io/badger/v4": "httpd never touches Badger",
		"github.com/hashicorp/raft":      "httpd never touches Raft",
		"net/http":                       "fasthttp serves; net/http is for test clients",
		"github.com/valyala/fasthttp/fasthttpadaptor": "it buffers whole bodies (docs/dependencies.md, trap 5)",
		"github.com/chromedp/chromedp":                "the browser drives tests only",
	}
	for _, imp := range pkg.Imports {
		if why, ok := banned[imp]; ok || strings.HasPrefix(imp, "valise/cmd") || strings.HasPrefix(imp, "valise/tui") {
			t.Errorf("web imports %s: %s", imp, why)
		}
	}
}
