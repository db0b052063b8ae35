package raftfsm

import (
	"go/build"
	"strings"
	"testing"
)

// TestDeps keeps raftfsm a leaf under the domain packages: it knows no domain and no front
// end (docs/style.md §1), and never logs through a global logger.
func TestDeps(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]string{
		"valise/":                          "raftfsm sits below every other Valise package",
		"github.com/valyala/":              "no HTTP in the metadata layer",
		"net/http":                         "no HTTP in the metadata layer",
		"github.com/klauspost/":            "file bytes belong to blobstore",
		"log\x00":                          "log through the *slog.Logger passed in",
		"github.com/hashicorp/raft-boltdb": "the stores are raftfsm's own, on Badger",
		"go.etcd.io/bbolt":                 "the stores are raftfsm's own, on Badger",
	}
	for _, imp := range pkg.Imports {
		for bad, why := range forbidden {
			if strings.HasSuffix(bad, "\x00") && imp == strings.TrimSuffix(bad, "\x00") ||
				!strings.HasSuffix(bad, "\x00") && strings.HasPrefix(imp, bad) {
				t.Errorf("raftfsm imports %s: %s", imp, why)
			}
		}
	}
}
