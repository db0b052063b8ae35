package status

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps status importable by every package under httpd: it uses fault, fasthttp's
// status names and the standard library only, never net/http (issue 17 item 2).
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "net/http" || imp != "valise/fault" && imp != "github.com/valyala/fasthttp" && (strings.HasPrefix(imp, "valise/") || strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")) {
			t.Errorf("status imports %s: it may use fault, fasthttp and the standard library only", imp)
		}
	}
}
