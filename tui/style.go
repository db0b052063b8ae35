package tui

import "charm.land/lipgloss/v2"

// Styles are the console's styles, in the 16 ANSI colours so the terminal's own theme (dark
// or light) decides the exact shades. NewStyles builds them; screens use only these.
type Styles struct {
	Title    lipgloss.Style // a screen or dialog title
	Tab      lipgloss.Style // an inactive tab
	TabOn    lipgloss.Style // the active tab
	Header   lipgloss.Style // a table's header row
	Selected lipgloss.Style // the selected row
	Muted    lipgloss.Style // secondary text
	OK       lipgloss.Style // healthy state
	Warn     lipgloss.Style // degraded state
	Error    lipgloss.Style // failed state, error toasts
	Key      lipgloss.Style // a key in the help bar
	Box      lipgloss.Style // a dialog's border
	Label    lipgloss.Style // a form field's label
}

// NewStyles returns the styles for a dark (or light) terminal background.
func NewStyles(dark bool) Styles {
	panic("stub: owned by h-tuicore")
}
