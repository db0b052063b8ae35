package rafttest_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps rafttest a harness of raftfsm alone (docs/style.md §1).
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow: []string{
			"valise/raftfsm", "valise/raftfsm/raftnet",
			"valise/internal/clusternet", "valise/internal/clusternet/clustertest",
			"github.com/hashicorp/raft",
			"valise/internal/poll", "valise/internal/testlog",
		},
		AllowWhy: "rafttest builds clusters of raftfsm and needs nothing else",
	})
}
