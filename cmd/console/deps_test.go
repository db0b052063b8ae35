package main_test

import (
	"testing"

	"valise/internal/depstest"
)

// TestDeps keeps cmd/console a thin shell over tui and adminapi (docs/style.md §1): the
// console never links the node or its stores.
func TestDeps(t *testing.T) {
	depstest.Check(t, depstest.Rule{
		Allow:    []string{"valise/tui", "valise/adminapi", "valise/internal/buildinfo", "charm.land/bubbletea/v2", "charm.land/lipgloss/v2"},
		AllowWhy: "cmd/console may import only tui, adminapi and Bubble Tea to start the program",
		Deny: map[string]string{
			"valise/node":                        "the console reaches the node through adminapi only",
			"github.com/charmbracelet/bubbletea": "Bubble Tea v2 only, never mixed with v1",
		},
	})
}
