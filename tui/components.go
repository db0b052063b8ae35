package tui

// The shared components' types (issue 20): Table (table.go), Form (form.go), Confirm
// (confirm.go) and ProgressBar (progress.go) are built from them.

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
