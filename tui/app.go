package tui

import (
	"context"

	tea "charm.land/bubbletea/v2"

	"valise/adminapi"
)

// StatusAPI is what the App calls to show the connection's state and retry a lost one.
type StatusAPI interface {
	// Status returns the node's state; an error means the node cannot be reached.
	Status(ctx context.Context) (adminapi.Status, error)
}

// App is the console's root model: the tab bar, the current screen, the help bar, toasts,
// the connection line and the global keys (docs/design.md, "The console").
type App struct{ impl appImpl }

// NewApp returns the console over screens (Overview, Users, Transfers, Journal, Settings,
// Cluster, in that order; a nil screen shows "not available"), calling api for the
// connection line; target names the node in the title bar (socket path or URL).
func NewApp(api StatusAPI, env Env, screens [6]Screen, target string) *App { panic("stub") }

// Init implements tea.Model.
func (a *App) Init() tea.Cmd { panic("stub") }

// Update implements tea.Model.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) { panic("stub") }

// View implements tea.Model.
func (a *App) View() tea.View { panic("stub") }

type appImpl struct{}
