package notify

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps notify a domain package: it records through raftfsm's interface and sends
// through go-mail, and never reaches for storage engines, front ends or the node.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"github.com/wneessen/go-mail", "golang.org/x/text/", "valise/raftfsm", "valise/locale", "valise/fault"}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if !strings.Contains(first, ".") && first != "valise" {
			continue // standard library
		}
		ok := false
		for _, a := range allowed {
			if imp == strings.TrimSuffix(a, "/") || strings.HasPrefix(imp, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("notify imports %s: only go-mail, x/text and raftfsm are allowed (no Badger, Raft, HTTP or node)", imp)
		}
	}
}
