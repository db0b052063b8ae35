package tui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// press returns the key press of s: a printable text, or a named key ("enter", "esc", …).
func press(s string) tea.KeyPressMsg {
	names := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "backspace": tea.KeyBackspace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
	}
	if c, ok := names[s]; ok {
		return tea.KeyPressMsg{Code: c}
	}
	switch s {
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "ctrl+s", "ctrl+c":
		return tea.KeyPressMsg{Code: rune(s[5]), Mod: tea.ModCtrl}
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

func typeTable(t Table, keys ...string) Table {
	for _, k := range keys {
		t, _ = t.Update(press(k))
	}
	return t
}

func ids(t Table) []string {
	var out []string
	for _, i := range t.impl.shown {
		out = append(out, t.impl.rows[i].ID)
	}
	return out
}

func TestTableFilterAndSort(t *testing.T) {
	tb := NewTable(testEnv(LangEN), []Column{{Title: Text{"Nom", "Name"}, Width: 10, Grow: true}, {Title: Text{"Taille", "Size"}, Width: 6}})
	tb.SetSize(40, 10)
	tb.SetRows([]Row{
		{ID: "b", Cells: []string{"Bob", "10"}},
		{ID: "a", Cells: []string{"alice", "9"}},
		{ID: "c", Cells: []string{"Carol", "100"}},
	})
	for _, tc := range []struct {
		name   string
		keys   []string
		want   string
		typing bool
	}{
		{"rows' own order", nil, "b a c", false},
		{"sort by the first column, case-insensitive", []string{"s"}, "a b c", false},
		{"reverse", []string{"s", "S"}, "c b a", false},
		{"numeric sort on the second column", []string{"s", "s"}, "a b c", false},
		{"filter matches any cell, case-insensitive", []string{"/", "O"}, "b c", true},
		{"enter keeps the filter", []string{"/", "1", "0", "enter"}, "b c", false},
		{"esc clears the filter", []string{"/", "x", "esc"}, "b a c", false},
		{"backspace edits the filter", []string{"/", "a", "l", "backspace"}, "a c", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := typeTable(tb, tc.keys...)
			if s := strings.Join(ids(got), " "); s != tc.want {
				t.Errorf("rows %q, want %q", s, tc.want)
			}
			if got.Filtering() != tc.typing {
				t.Errorf("Filtering %v, want %v", got.Filtering(), tc.typing)
			}
		})
	}

	t.Run("the cursor stays on its row", func(t *testing.T) {
		got := typeTable(tb, "down", "down") // on c
		got = typeTable(got, "s")            // a b c: c is third
		got.SetRows(append([]Row{{ID: "d", Cells: []string{"Dan", "1"}}}, got.impl.rows...))
		if r, _ := got.Selected(); r.ID != "c" {
			t.Errorf("selected %q, want c", r.ID)
		}
	})
	t.Run("view fits the size", func(t *testing.T) {
		v := typeTable(tb, "/", "z").View()
		lines := strings.Split(v, "\n")
		if len(lines) != 10 {
			t.Errorf("%d lines, want 10:\n%s", len(lines), v)
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > 40 {
				t.Errorf("line %q is %d wide", ansi.Strip(l), w)
			}
		}
		if !strings.Contains(ansi.Strip(v), "(no rows)") || !strings.Contains(ansi.Strip(v), "/z") {
			t.Errorf("view lacks the empty line or the filter:\n%s", ansi.Strip(v))
		}
	})
	t.Run("nothing selected when empty", func(t *testing.T) {
		if _, ok := typeTable(tb, "/", "z").Selected(); ok {
			t.Error("a row is selected though none is shown")
		}
	})
}

func errIfEmpty(s string) error {
	if s == "" {
		return errors.New("required")
	}
	return nil
}

func TestFormValidation(t *testing.T) {
	env := testEnv(LangEN)
	newForm := func() Form {
		return NewForm(env, Text{"Nouveau", "New"}, []Field{
			{Key: "email", Label: Text{"Courriel", "Email"}, Validate: func(s string) error {
				if !strings.Contains(s, "@") {
					return errors.New("an email address has an @")
				}
				return nil
			}},
			{Key: "role", Label: Text{"Rôle", "Role"}, Choices: []string{"user", "admin"}},
			{Key: "pw", Label: Text{"Mot de passe", "Password"}, Secret: true, Validate: errIfEmpty},
		})
	}
	run := func(f Form, keys ...string) Form {
		for _, k := range keys {
			f, _ = f.Update(press(k))
		}
		return f
	}
	t.Run("nothing submitted while invalid", func(t *testing.T) {
		f := run(newForm(), "b", "o", "b", "ctrl+s")
		if f.State() != FormEditing {
			t.Fatalf("state %v, want editing", f.State())
		}
		v := ansi.Strip(f.View())
		if !strings.Contains(v, "an email address has an @") || !strings.Contains(v, "required") {
			t.Errorf("errors not shown:\n%s", v)
		}
		if f.impl.focus != 0 {
			t.Errorf("focus %d, want the first field in error", f.impl.focus)
		}
		f = run(f, "enter", "enter", "x", "enter") // enter on the last field, email still bad
		if f.State() != FormEditing {
			t.Errorf("submitted with a bad email")
		}
	})
	t.Run("submitted once valid", func(t *testing.T) {
		f := run(newForm(), "a", "@", "b", "tab", "right", "tab", "s", "3", "enter")
		if f.State() != FormSubmitted {
			t.Fatalf("state %v, want submitted:\n%s", f.State(), ansi.Strip(f.View()))
		}
		want := map[string]string{"email": "a@b", "role": "admin", "pw": "s3"}
		for k, v := range want {
			if f.Values()[k] != v {
				t.Errorf("%s = %q, want %q", k, f.Values()[k], v)
			}
		}
		if strings.Contains(ansi.Strip(f.View()), "s3") {
			t.Error("the secret is shown")
		}
	})
	t.Run("SetError returns to editing on the field", func(t *testing.T) {
		f := run(newForm(), "a", "@", "b", "tab", "tab", "x", "ctrl+s")
		f.SetError("email", "this address is taken")
		if f.State() != FormEditing || f.impl.focus != 0 {
			t.Fatalf("state %v focus %d, want editing on email", f.State(), f.impl.focus)
		}
		if !strings.Contains(ansi.Strip(f.View()), "this address is taken") {
			t.Error("the refusal is not shown")
		}
		if run(f, "ctrl+s").State() != FormEditing {
			t.Error("resubmitted unchanged after a refusal")
		}
		if run(f, "c", "ctrl+s").State() != FormSubmitted {
			t.Error("not submitted after the refused field was edited")
		}
		f.SetError("", "the node is read-only")
		if !strings.Contains(ansi.Strip(f.View()), "the node is read-only") {
			t.Error("the form's refusal is not shown")
		}
	})
	t.Run("esc cancels", func(t *testing.T) {
		if s := run(newForm(), "esc").State(); s != FormCancelled {
			t.Errorf("state %v, want cancelled", s)
		}
	})
}

func TestConfirmDefaultsToNo(t *testing.T) {
	env := testEnv(LangFR)
	for _, tc := range []struct {
		keys []string
		want FormState
	}{
		{[]string{"enter"}, FormCancelled},
		{[]string{"y"}, FormSubmitted},
		{[]string{"o"}, FormSubmitted},
		{[]string{"n"}, FormCancelled},
		{[]string{"esc"}, FormCancelled},
		{[]string{"left", "enter"}, FormSubmitted},
		{[]string{"tab", "tab", "enter"}, FormCancelled},
		{[]string{"x"}, FormEditing},
	} {
		t.Run(strings.Join(tc.keys, "+"), func(t *testing.T) {
			c := NewConfirm(env, "Supprimer ?", true)
			for _, k := range tc.keys {
				c, _ = c.Update(press(k))
			}
			if c.State() != tc.want {
				t.Errorf("state %v, want %v", c.State(), tc.want)
			}
		})
	}
}

func TestProgressBar(t *testing.T) {
	env := testEnv(LangEN)
	for _, tc := range []struct {
		done, total int64
		want        string
	}{
		{0, 0, "░░░░░   0%"},
		{1, 2, "██░░░  50%"},
		{5, 4, "█████ 100%"},
		{-1, 4, "░░░░░   0%"},
	} {
		if got := ansi.Strip(ProgressBar(env, tc.done, tc.total, 10)); got != tc.want {
			t.Errorf("ProgressBar(%d, %d) = %q, want %q", tc.done, tc.total, got, tc.want)
		}
	}
}
