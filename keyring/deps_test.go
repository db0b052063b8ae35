package keyring

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps keyring a leaf: the standard library and golang.org/x/crypto only. In
// particular it must never import blobstore or raftfsm (the node adapts keyring's methods to
// their KeyWrapper and HeadSigner interfaces), nor any other Valise package.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		stdlib := !strings.Contains(first, ".") && first != "valise"
		if !stdlib && !strings.HasPrefix(imp, "golang.org/x/crypto/") {
			t.Errorf("keyring imports %s: only the standard library and golang.org/x/crypto are allowed", imp)
		}
	}
}
