package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The shared components' contract (issue 20). Bodies are owned by h-tuicore; screens use only
// these signatures.

// Column is one column of a Table.
type Column struct {
	Title Text
	Width int  // its width in cells; at least the title's
	Grow  bool // shares the width left over by the fixed columns
}

// Row is one row of a Table: the ID a screen acts on, and its cells, one per column.
type Row struct {
	ID    string
	Cells []string
	// Tone colours the row: "" (plain), "ok", "warn", "error" or "muted".
	Tone string
}

// Table is a scrolling table with a cursor, a filter (`/`, typed text matches any cell,
// case-insensitive; esc clears) and a sort (`s` cycles the sort column, `S` reverses).
type Table struct{ impl tableImpl }

// NewTable returns an empty table with cols.
func NewTable(env Env, cols []Column) Table { panic("stub") }

// SetRows replaces the rows, keeping the cursor on the same ID when it is still there.
func (t *Table) SetRows(rows []Row) { panic("stub") }

// SetSize sets the cells the table may use, its header and filter line included.
func (t *Table) SetSize(width, height int) { panic("stub") }

// SetLang switches the titles' language.
func (t *Table) SetLang(l Lang) { panic("stub") }

// Update handles a key: up/down/k/j, pgup/pgdown, home/end, `/` (filter), `s`/`S` (sort);
// while Filtering every printable key goes to the filter, enter keeps it, esc clears it.
func (t Table) Update(msg tea.Msg) (Table, tea.Cmd) { panic("stub") }

// View draws the table.
func (t Table) View() string { panic("stub") }

// Selected returns the row under the cursor, false when no row is shown.
func (t Table) Selected() (Row, bool) { panic("stub") }

// Filtering is true while the filter line has the focus (the screen is then Typing).
func (t Table) Filtering() bool { panic("stub") }

// Keys are the table's bindings for the help bar.
func (t Table) Keys() []key.Binding { panic("stub") }

// FormState is where a form or a dialog stands.
type FormState int

// The states of a Form or a Confirm.
const (
	FormEditing FormState = iota
	FormSubmitted
	FormCancelled
)

// Field is one field of a Form.
type Field struct {
	Key   string // the key of Values
	Label Text
	Hint  Text // shown beside the field, muted
	Value string
	// Secret masks the value as it is typed.
	Secret bool
	// Choices make the field a choice cycled with left/right (Value one of them).
	Choices []string
	// Validate checks the value as it is typed; its error is shown under the field and the
	// form cannot be submitted while any field fails. nil accepts anything.
	Validate func(string) error
}

// Form is a modal form: tab/shift+tab or up/down move between fields, enter on the last
// field (or ctrl+s anywhere) submits when every field validates, esc cancels. Nothing is
// submitted until valid.
type Form struct{ impl formImpl }

// NewForm returns a form titled title with fields, the focus on the first.
func NewForm(env Env, title Text, fields []Field) Form { panic("stub") }

// Update handles a message.
func (f Form) Update(msg tea.Msg) (Form, tea.Cmd) { panic("stub") }

// View draws the form in its box.
func (f Form) View() string { panic("stub") }

// SetSize sets the cells the form may use.
func (f *Form) SetSize(width, height int) { panic("stub") }

// State says whether the form is being edited, was submitted or cancelled.
func (f Form) State() FormState { panic("stub") }

// Values returns every field's value by Key.
func (f Form) Values() map[string]string { panic("stub") }

// SetError shows the node's refusal of a submitted form on the field with key ("": on the
// whole form) and returns the form to FormEditing.
func (f *Form) SetError(key, message string) { panic("stub") }

// Keys are the form's bindings for the help bar.
func (f Form) Keys() []key.Binding { panic("stub") }

// Confirm is a yes/no dialog; "no" has the focus, so enter alone never destroys anything.
// y confirms, n or esc cancels, left/right/tab move the focus, enter takes it.
type Confirm struct{ impl confirmImpl }

// NewConfirm returns a dialog asking question; danger draws it in the error colour.
func NewConfirm(env Env, question string, danger bool) Confirm { panic("stub") }

// Update handles a message.
func (c Confirm) Update(msg tea.Msg) (Confirm, tea.Cmd) { panic("stub") }

// View draws the dialog.
func (c Confirm) View() string { panic("stub") }

// State is FormSubmitted once confirmed, FormCancelled once refused.
func (c Confirm) State() FormState { panic("stub") }

// ProgressBar draws done/total as a bar of width cells with the percentage.
func ProgressBar(env Env, done, total int64, width int) string { panic("stub") }

// Placeholders until h-tuicore writes the components.
type (
	tableImpl   struct{}
	formImpl    struct{}
	confirmImpl struct{}
)
