package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// echoModel shows the last key pressed, for the harness's own test.
type echoModel struct{ last string }

func (m echoModel) Init() tea.Cmd { return nil }

func (m echoModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		m.last = k.String()
	}
	return m, nil
}

func (m echoModel) View() tea.View { return tea.NewView("pressed: " + m.last + "   ") }

func TestHarness(t *testing.T) {
	tm := runApp(t, echoModel{}, 80, 24)
	tm.Type("x")
	waitFor(t, tm, "pressed: x")
	golden(t, tm)
}
