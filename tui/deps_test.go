package tui_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps the console on the admin API only: it never links a store or the node
// (docs/style.md §1, "tui").
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Deny: map[string]string{
			"github.com/charmbracelet/bubbletea": "Bubble Tea v2 only (charm.land/bubbletea/v2), never mixed with v1",
			"github.com/dgraph-io/badger/v4":     "the console never links Badger",
		},
		DenyDirect: map[string]string{
			"valise/node":    "the console reaches the node through adminapi only",
			"valise/raftfsm": "the console reaches the node through adminapi only",
		},
	})
}
