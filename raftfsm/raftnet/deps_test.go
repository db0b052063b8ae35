package raftnet_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps raftnet a transport for raftfsm alone, with no test code in it (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/raftfsm", "valise/internal/clusternet", "github.com/hashicorp/raft", "github.com/hashicorp/go-hclog", "valise/internal/logkey"},
		AllowWhy: "raftnet carries Raft over clusternet and needs nothing else (but the log keys)",
		DenyDirect: map[string]string{
			"testing": "test code stays in _test files and rafttest",
		},
	})
}
