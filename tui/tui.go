// Package tui is Valise's administrators' console: Bubble Tea models, one per screen, over
// shared components (tables with filter and sort, forms with inline validation, confirm
// dialogs, a help bar, progress bars, toasts). It holds no business logic: every decision is
// the node's, reached through adminapi. See docs/design.md, "The console".
package tui

import (
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Screen is one of the console's six screens. The App owns the tab bar, the help bar, the
// toasts and the global keys; a screen draws only its body.
type Screen interface {
	// Init returns the screen's first load; the App calls it once, when the screen is first
	// shown.
	Init() tea.Cmd
	// Update handles a message: the screen's own replies, every tea.KeyPressMsg while the
	// screen is shown (but the global keys, unless Typing), tea.WindowSizeMsg-derived
	// BodySizeMsg, LangMsg and TickMsg (to every screen, shown or not).
	Update(msg tea.Msg) (Screen, tea.Cmd)
	// View draws the body in exactly the size of the last BodySizeMsg.
	View() string
	// Keys lists the screen's bindings in its current state, for the help bar and `?`.
	Keys() []key.Binding
	// Typing is true while a text input or a dialog has the focus: the App then passes
	// every key to the screen, the global ones (1–6, tab, q, ?) included, but ctrl+c.
	Typing() bool
}

// Lang is the console's language.
type Lang int

// The console's languages; LangFR is the default (the product is French first).
const (
	LangFR Lang = iota
	LangEN
)

// Text is one message in both languages.
type Text struct{ FR, EN string }

// In returns t in l.
func (t Text) In(l Lang) string {
	if l == LangEN {
		return t.EN
	}
	return t.FR
}

// Env is what every screen is built with.
type Env struct {
	Lang   Lang
	Styles Styles
	// Now is the clock; tests fix it so golden files do not change.
	Now func() time.Time
	// Refresh is how often live screens reload (the App's TickMsg period).
	Refresh time.Duration
}

// BodySizeMsg gives a screen the cells its body may use.
type BodySizeMsg struct{ Width, Height int }

// LangMsg switches every screen to a language.
type LangMsg struct{ Lang Lang }

// TickMsg is the App's refresh tick, sent to every screen; live screens reload on it.
type TickMsg struct{ Time time.Time }

// ToastMsg shows a short result line ("User created"), or an error, under the body.
type ToastMsg struct {
	Text string
	Err  bool
}

// ErrMsg reports a failed call. The App shows it as an error toast; a lost connection
// (adminapi.ErrNotRunning or a network error) is shown in the status line instead, and the
// App keeps retrying until the node answers again.
type ErrMsg struct{ Err error }
