package raftfsm_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps raftfsm below every other Valise package and off HTTP and file bytes
// (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: map[string]string{
			"valise/...":                           "raftfsm sits below every other Valise package",
			"github.com/valyala/...":               "no HTTP in the metadata layer",
			"github.com/hashicorp/raft-boltdb/...": "the stores are raftfsm own, on Badger",
			"go.etcd.io/bbolt":                     "the stores are raftfsm own, on Badger",
		},
		// fault is a base package (standard library only): it gives the "not now" errors their
		// kind, so that domain packages need no wrapper to make them "unavailable".
		Except: []string{"valise/internal/logkey", "valise/fault"},
		DenyDirect: map[string]string{
			"net/http":                 "no HTTP in the metadata layer",
			"github.com/klauspost/...": "file bytes belong to blobstore",
			"log":                      "log through the *slog.Logger passed in",
		},
	})
}
