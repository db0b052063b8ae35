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

// NewStyles returns the styles for a dark (or light) terminal background. Only the 16 ANSI
// colours are used, and only as foregrounds, except the selection and the active tab which
// are drawn in reverse video: the terminal's own palette then keeps them readable on either
// background. Yellow is unreadable on white, so a light background warns in magenta.
func NewStyles(dark bool) Styles {
	accent, warn, muted := lipgloss.Blue, lipgloss.Magenta, lipgloss.BrightBlack
	if dark {
		accent, warn = lipgloss.Cyan, lipgloss.Yellow
	}
	base := lipgloss.NewStyle()
	return Styles{
		Title:    base.Bold(true),
		Tab:      base.Padding(0, 1),
		TabOn:    base.Padding(0, 1).Bold(true).Reverse(true),
		Header:   base.Bold(true).Underline(true),
		Selected: base.Reverse(true),
		Muted:    base.Foreground(muted),
		OK:       base.Foreground(lipgloss.Green),
		Warn:     base.Foreground(warn),
		Error:    base.Foreground(lipgloss.Red).Bold(true),
		Key:      base.Foreground(accent).Bold(true),
		Box:      base.Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		Label:    base.Bold(true),
	}
}

// tone returns the style of a Row's Tone ("" and unknown tones: plain).
func (s Styles) tone(tone string) lipgloss.Style {
	switch tone {
	case "ok":
		return s.OK
	case "warn":
		return s.Warn
	case "error":
		return s.Error
	case "muted":
		return s.Muted
	}
	return lipgloss.NewStyle()
}
