package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Form is a modal form: tab/shift+tab or up/down move between fields, enter on the last
// field (or ctrl+s anywhere) submits when every field validates, esc cancels. Nothing is
// submitted until valid.
type Form struct{ impl formImpl }

type formImpl struct {
	env     Env
	title   Text
	fields  []Field
	touched []bool   // the field was edited, or a submit was tried: its error shows
	refused []string // the node's refusal per field (SetError), cleared by an edit
	refusal string   // the node's refusal of the whole form
	focus   int
	state   FormState
	width   int
}

// NewForm returns a form titled title with fields, the focus on the first.
func NewForm(env Env, title Text, fields []Field) Form {
	fs := append([]Field(nil), fields...)
	for i, f := range fs {
		if len(f.Choices) > 0 && indexOf(f.Choices, f.Value) < 0 {
			fs[i].Value = f.Choices[0]
		}
	}
	return Form{impl: formImpl{
		env: env, title: title, fields: fs, width: 60,
		touched: make([]bool, len(fs)), refused: make([]string, len(fs)),
	}}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Update handles a message.
func (f Form) Update(msg tea.Msg) (Form, tea.Cmd) {
	m := &f.impl
	if m.state != FormEditing || len(m.fields) == 0 {
		if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "esc" {
			m.state = FormCancelled
		}
		return f, nil
	}
	// The fields are copied so that a Form value kept by a screen is not changed behind it.
	m.fields = append([]Field(nil), m.fields...)
	m.touched = append([]bool(nil), m.touched...)
	m.refused = append([]string(nil), m.refused...)
	fd := &m.fields[m.focus]
	switch msg := msg.(type) {
	case tea.PasteMsg:
		if len(fd.Choices) == 0 {
			m.edit(fd.Value + strings.ReplaceAll(msg.Content, "\n", ""))
		}
	case tea.KeyPressMsg:
		switch msg.String() {
		case "esc":
			m.state = FormCancelled
		case "tab", "down":
			m.focus = (m.focus + 1) % len(m.fields)
		case "shift+tab", "up":
			m.focus = (m.focus + len(m.fields) - 1) % len(m.fields)
		case "ctrl+s":
			m.submit()
		case "enter":
			if m.focus == len(m.fields)-1 {
				m.submit()
			} else {
				m.focus++
			}
		case "left", "right", "space":
			if n := len(fd.Choices); n > 0 {
				step := 1
				if msg.String() == "left" {
					step = n - 1
				}
				m.edit(fd.Choices[(indexOf(fd.Choices, fd.Value)+step)%n])
			} else if msg.String() == "space" {
				m.edit(fd.Value + " ")
			}
		case "backspace":
			if r := []rune(fd.Value); len(r) > 0 && len(fd.Choices) == 0 {
				m.edit(string(r[:len(r)-1]))
			}
		case "ctrl+u":
			if len(fd.Choices) == 0 {
				m.edit("")
			}
		default:
			if msg.Text != "" && msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0 && len(fd.Choices) == 0 {
				m.edit(fd.Value + msg.Text)
			}
		}
	}
	return f, nil
}

// edit sets the focused field's value.
func (m *formImpl) edit(v string) {
	m.fields[m.focus].Value = v
	m.touched[m.focus] = true
	m.refused[m.focus] = ""
	m.refusal = ""
}

// submit submits the form when every field validates, else shows every error and puts the
// focus on the first field in error.
func (m *formImpl) submit() {
	first := -1
	for i := range m.fields {
		m.touched[i] = true
		if m.fieldError(i) != "" && first < 0 {
			first = i
		}
	}
	if first >= 0 {
		m.focus = first
		return
	}
	m.state = FormSubmitted
}

// fieldError is the error shown under field i, "" when it is valid.
func (m *formImpl) fieldError(i int) string {
	if m.refused[i] != "" {
		return m.refused[i]
	}
	if v := m.fields[i].Validate; v != nil {
		if err := v(m.fields[i].Value); err != nil {
			return err.Error()
		}
	}
	return ""
}

// View draws the form in its box.
func (f Form) View() string {
	m := f.impl
	st := m.env.Styles
	inner := max(m.width-4, 10) // the box's border and padding
	var b strings.Builder
	b.WriteString(st.Title.Render(fitStyled(m.title.In(m.env.Lang), inner)))
	for i, fd := range m.fields {
		b.WriteString("\n\n")
		label := fd.Label.In(m.env.Lang)
		if i == m.focus {
			label = "› " + label
		} else {
			label = "  " + label
		}
		b.WriteString(st.Label.Render(label))
		if h := fd.Hint.In(m.env.Lang); h != "" {
			b.WriteString(st.Muted.Render("  " + h))
		}
		b.WriteString("\n    ")
		v := fd.Value
		if fd.Secret {
			v = strings.Repeat("•", len([]rune(v)))
		}
		if len(fd.Choices) > 0 {
			v = "‹ " + v + " ›"
		} else if i == m.focus {
			v += "▏"
		}
		b.WriteString(fitStyled(v, inner-4))
		if e := m.fieldError(i); e != "" && m.touched[i] {
			b.WriteString("\n    " + st.Error.Render(fitStyled(e, inner-4)))
		}
	}
	if m.refusal != "" {
		b.WriteString("\n\n" + st.Error.Render(ansi.Wordwrap(m.refusal, inner, "")))
	}
	return st.Box.Width(inner + 4).Render(b.String())
}

// SetSize sets the cells the form may use.
func (f *Form) SetSize(width, height int) { f.impl.width = min(max(width, 20), 72) }

// State says whether the form is being edited, was submitted or cancelled.
func (f Form) State() FormState { return f.impl.state }

// Values returns every field's value by Key.
func (f Form) Values() map[string]string {
	v := make(map[string]string, len(f.impl.fields))
	for _, fd := range f.impl.fields {
		v[fd.Key] = fd.Value
	}
	return v
}

// SetError shows the node's refusal of a submitted form on the field with key ("": on the
// whole form) and returns the form to FormEditing.
func (f *Form) SetError(key, message string) {
	m := &f.impl
	m.state = FormEditing
	m.refused = append([]string(nil), m.refused...)
	m.touched = append([]bool(nil), m.touched...)
	for i, fd := range m.fields {
		if key != "" && fd.Key == key {
			m.refused[i], m.touched[i], m.focus = message, true, i
			return
		}
	}
	m.refusal = message
}

// Keys are the form's bindings for the help bar.
func (f Form) Keys() []key.Binding {
	l := f.impl.env.Lang
	ks := []key.Binding{
		binding(l, "tab", Text{"champ suivant", "next field"}, "tab", "down"),
		binding(l, "ctrl+s", Text{"valider", "submit"}, "ctrl+s", "enter"),
		binding(l, "esc", Text{"annuler", "cancel"}),
	}
	if m := f.impl; m.focus < len(m.fields) && len(m.fields[m.focus].Choices) > 0 {
		ks = append(ks, binding(l, "←/→", Text{"choisir", "choose"}, "left", "right"))
	}
	return ks
}
