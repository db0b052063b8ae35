package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Confirm is a yes/no dialog; "no" has the focus, so enter alone never destroys anything.
// y confirms, n or esc cancels, left/right/tab move the focus, enter takes it.
type Confirm struct{ impl confirmImpl }

type confirmImpl struct {
	env      Env
	question string
	danger   bool
	yes      bool // the focus is on "yes"
	state    FormState
}

// NewConfirm returns a dialog asking question; danger draws it in the error colour.
func NewConfirm(env Env, question string, danger bool) Confirm {
	return Confirm{impl: confirmImpl{env: env, question: question, danger: danger}}
}

// Update handles a message.
func (c Confirm) Update(msg tea.Msg) (Confirm, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || c.impl.state != FormEditing {
		return c, nil
	}
	switch strings.ToLower(k.String()) {
	case "y", "o": // yes, oui
		c.impl.state = FormSubmitted
	case "n", "esc":
		c.impl.state = FormCancelled
	case "left", "right", "tab", "shift+tab", "h", "l":
		c.impl.yes = !c.impl.yes
	case "enter":
		c.impl.state = FormCancelled
		if c.impl.yes {
			c.impl.state = FormSubmitted
		}
	}
	return c, nil
}

// View draws the dialog.
func (c Confirm) View() string {
	m := c.impl
	st := m.env.Styles
	yes, no := Text{" Oui (o) ", " Yes (y) "}.In(m.env.Lang), Text{" Non (n) ", " No (n) "}.In(m.env.Lang)
	if m.yes {
		yes = st.Selected.Render(yes)
	} else {
		no = st.Selected.Render(no)
	}
	q := ansi.Wordwrap(m.question, 50, "")
	box := st.Box
	if m.danger {
		q = st.Error.Render(q)
		box = box.BorderForeground(st.Error.GetForeground())
	}
	return box.Render(q + "\n\n" + yes + "  " + no)
}

// State is FormSubmitted once confirmed, FormCancelled once refused.
func (c Confirm) State() FormState { return c.impl.state }
