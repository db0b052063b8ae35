package tui

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

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

// toastLife is how long a toast stays: it goes on the first tick after it.
const toastLife = 4 * time.Second

// defaultRefresh is the tick period when Env.Refresh is not set.
const defaultRefresh = 2 * time.Second

// screenNames are the tabs' names, in the screens' order.
var screenNames = [6]Text{
	{"Aperçu", "Overview"},
	{"Utilisateurs", "Users"},
	{"Transferts", "Transfers"},
	{"Journal", "Journal"},
	{"Réglages", "Settings"},
	{"Cluster", "Cluster"},
}

type appImpl struct {
	api     StatusAPI
	env     Env
	target  string
	screens [6]Screen
	started [6]bool // the screen's Init ran
	current int
	width   int
	height  int
	help    bool // the `?` overlay is shown

	// The connection line: checked is false until the first Status answered or failed.
	checked  bool
	lost     bool
	lostWhy  string
	node     string
	checking bool // a Status call is under way

	toast   string
	toastOK bool
	toastAt time.Time
}

// appTickMsg is the App's own tick; it becomes a TickMsg to the screens and schedules the
// next one (a TickMsg sent from outside, by a test, schedules nothing).
type appTickMsg struct{ time time.Time }

// statusMsg is the answer of a Status call.
type statusMsg struct {
	status adminapi.Status
	err    error
}

// NewApp returns the console over screens (Overview, Users, Transfers, Journal, Settings,
// Cluster, in that order; a nil screen shows "not available"), calling api for the
// connection line; target names the node in the title bar (socket path or URL).
func NewApp(api StatusAPI, env Env, screens [6]Screen, target string) *App {
	if env.Refresh <= 0 {
		env.Refresh = defaultRefresh
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &App{impl: appImpl{api: api, env: env, target: target, screens: screens, width: 80, height: 24}}
}

// Init implements tea.Model.
func (a *App) Init() tea.Cmd {
	return tea.Batch(a.checkStatus(), a.tick(), a.show(a.impl.current))
}

func (a *App) tick() tea.Cmd {
	return tea.Tick(a.impl.env.Refresh, func(t time.Time) tea.Msg { return appTickMsg{t} })
}

// checkStatus calls Status unless a call is under way.
func (a *App) checkStatus() tea.Cmd {
	m := &a.impl
	if m.checking || m.api == nil {
		return nil
	}
	m.checking = true
	api, timeout := m.api, max(m.env.Refresh, 5*time.Second)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		st, err := api.Status(ctx)
		return statusMsg{st, err}
	}
}

// show makes screen i the current one, running its Init the first time.
func (a *App) show(i int) tea.Cmd {
	m := &a.impl
	m.current, m.help = i, false
	if m.screens[i] == nil || m.started[i] {
		return nil
	}
	m.started[i] = true
	return m.screens[i].Init()
}

// bodySize is the cells a screen's body gets: all but the tab bar, the connection line, the
// toast line and the help bar.
func (a *App) bodySize() BodySizeMsg {
	return BodySizeMsg{Width: a.impl.width, Height: max(a.impl.height-4, 1)}
}

// Update implements tea.Model.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m := &a.impl
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return a, a.broadcast(a.bodySize())
	case appTickMsg:
		return a, tea.Batch(a.tick(), a.onTick(msg.time))
	case TickMsg:
		return a, a.onTick(msg.Time)
	case statusMsg:
		return a, a.onStatus(msg)
	case ToastMsg:
		a.setToast(msg.Text, !msg.Err)
		return a, nil
	case ErrMsg:
		return a, a.onError(msg.Err)
	case LangMsg:
		m.env.Lang = msg.Lang
		return a, a.broadcast(msg)
	case tea.KeyPressMsg:
		return a, a.onKey(msg)
	case tea.MouseMsg, tea.PasteMsg:
		return a, a.toCurrent(msg)
	}
	// A screen's own reply: every screen gets it and ignores what is not its own.
	return a, a.broadcast(msg)
}

func (a *App) onTick(now time.Time) tea.Cmd {
	m := &a.impl
	if m.toast != "" && !now.Before(m.toastAt.Add(toastLife)) {
		m.toast = ""
	}
	return tea.Batch(a.checkStatus(), a.broadcast(TickMsg{Time: now}))
}

func (a *App) onStatus(msg statusMsg) tea.Cmd {
	m := &a.impl
	m.checking, m.checked = false, true
	if msg.err != nil {
		m.lost, m.lostWhy = true, a.lostReason(msg.err)
		return nil
	}
	if m.lost {
		a.setToast(Text{"Connexion rétablie.", "Connection restored."}.In(m.env.Lang), true)
	}
	m.lost, m.lostWhy = false, ""
	m.node = msg.status.Node.ID
	return nil
}

// onError shows a failed call: a lost connection in the connection line (retried on every
// tick), anything else as an error toast.
func (a *App) onError(err error) tea.Cmd {
	if err == nil {
		return nil
	}
	if connectionLost(err) {
		a.impl.lost, a.impl.lostWhy, a.impl.checked = true, a.lostReason(err), true
		return nil
	}
	a.setToast(errorText(err), false)
	return nil
}

// connectionLost is true for an error that says the node could not be reached, rather than
// a refusal of the call.
func connectionLost(err error) bool {
	var apiErr *adminapi.Error
	if errors.As(err, &apiErr) {
		return false
	}
	var netErr net.Error
	return errors.Is(err, adminapi.ErrNotRunning) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "closed the connection")
}

// lostReason says why the node could not be reached: in words for a node that is not
// running, else the error itself (a TLS or network detail the operator needs).
func (a *App) lostReason(err error) string {
	if errors.Is(err, adminapi.ErrNotRunning) {
		return Text{"(le nœud ne tourne pas)", "(the node is not running)"}.In(a.impl.env.Lang)
	}
	return "(" + err.Error() + ")"
}

// errorText is what an operator reads for err: the node's own sentence for its refusals.
func errorText(err error) string {
	var apiErr *adminapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	return err.Error()
}

func (a *App) setToast(text string, ok bool) {
	a.impl.toast, a.impl.toastOK, a.impl.toastAt = text, ok, a.impl.env.Now()
}

// broadcast sends msg to every screen.
func (a *App) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for i, s := range a.impl.screens {
		if s == nil {
			continue
		}
		var cmd tea.Cmd
		a.impl.screens[i], cmd = s.Update(msg)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// toCurrent sends msg to the current screen.
func (a *App) toCurrent(msg tea.Msg) tea.Cmd {
	i := a.impl.current
	s := a.impl.screens[i]
	if s == nil {
		return nil
	}
	var cmd tea.Cmd
	a.impl.screens[i], cmd = s.Update(msg)
	return cmd
}

func (a *App) typing() bool {
	s := a.impl.screens[a.impl.current]
	return s != nil && s.Typing()
}

func (a *App) onKey(k tea.KeyPressMsg) tea.Cmd {
	m := &a.impl
	ks := k.String()
	if ks == "ctrl+c" {
		return tea.Quit
	}
	if m.help {
		switch ks {
		case "q":
			return tea.Quit
		case "?", "esc", "enter":
			m.help = false
		}
		return nil
	}
	if a.typing() {
		return a.toCurrent(k)
	}
	switch ks {
	case "q":
		return tea.Quit
	case "?":
		m.help = true
		return nil
	case "L":
		l := LangEN
		if m.env.Lang == LangEN {
			l = LangFR
		}
		m.env.Lang = l
		return a.broadcast(LangMsg{Lang: l})
	case "tab":
		return a.show((m.current + 1) % len(m.screens))
	case "shift+tab":
		return a.show((m.current + len(m.screens) - 1) % len(m.screens))
	case "1", "2", "3", "4", "5", "6":
		return a.show(int(ks[0] - '1'))
	}
	return a.toCurrent(k)
}

// globalKeys are the App's own bindings, for the help bar and the overlay.
func (a *App) globalKeys() []key.Binding {
	l := a.impl.env.Lang
	other := Text{"English", "Français"}
	return []key.Binding{
		binding(l, "1-6", Text{"écran", "screen"}, "1", "2", "3", "4", "5", "6"),
		binding(l, "tab", Text{"écran suivant", "next screen"}, "tab", "shift+tab"),
		binding(l, "?", Text{"aide", "help"}),
		binding(l, "L", other),
		binding(l, "q", Text{"quitter", "quit"}, "q", "ctrl+c"),
	}
}

// View implements tea.View.
func (a *App) View() tea.View {
	m := &a.impl
	st := m.env.Styles
	body := a.bodySize()
	var b strings.Builder
	b.WriteString(a.tabBar())
	b.WriteByte('\n')
	b.WriteString(a.connectionLine())
	b.WriteByte('\n')
	switch s := m.screens[m.current]; {
	case m.help:
		b.WriteString(block(a.helpOverlay(), body.Width, body.Height))
	case s == nil:
		b.WriteString(block(lipgloss.Place(body.Width, body.Height, lipgloss.Center, lipgloss.Center,
			st.Muted.Render(Text{"Cet écran n'est pas disponible.", "This screen is not available."}.In(m.env.Lang))),
			body.Width, body.Height))
	default:
		b.WriteString(block(s.View(), body.Width, body.Height))
	}
	b.WriteByte('\n')
	if m.toast != "" {
		style := st.OK
		if !m.toastOK {
			style = st.Error
		}
		b.WriteString(style.Render(fitStyled(m.toast, m.width)))
	}
	b.WriteByte('\n')
	b.WriteString(a.helpBar())
	v := tea.NewView(b.String())
	v.AltScreen = true
	v.WindowTitle = "Valise — " + m.target
	return v
}

func (a *App) tabBar() string {
	m := &a.impl
	var tabs []string
	for i, n := range screenNames {
		label := string(rune('1'+i)) + " " + n.In(m.env.Lang)
		if i == m.current {
			tabs = append(tabs, m.env.Styles.TabOn.Render(label))
		} else {
			tabs = append(tabs, m.env.Styles.Tab.Render(label))
		}
	}
	bar := strings.Join(tabs, "")
	if title := m.env.Styles.Title.Render("Valise"); ansi.StringWidth(bar)+ansi.StringWidth(title)+1 <= m.width {
		bar += strings.Repeat(" ", m.width-ansi.StringWidth(bar)-ansi.StringWidth(title)) + title
	}
	return fitStyled(bar, m.width)
}

func (a *App) connectionLine() string {
	m := &a.impl
	st, l := m.env.Styles, m.env.Lang
	var s string
	switch {
	case !m.checked:
		s = st.Muted.Render("… " + Text{"connexion à ", "connecting to "}.In(l) + m.target)
	case m.lost:
		s = st.Error.Render("✗ "+Text{"connexion perdue, nouvel essai…", "connection lost, retrying…"}.In(l)) +
			st.Muted.Render(" "+m.lostWhy)
	default:
		s = st.OK.Render("● ") + Text{"connecté à ", "connected to "}.In(l) + m.target
		if m.node != "" {
			s += st.Muted.Render(" · " + Text{"nœud ", "node "}.In(l) + m.node)
		}
	}
	return fitStyled(s, m.width)
}

// keysOf returns the current screen's bindings (none for a missing screen).
func (a *App) keysOf() []key.Binding {
	if s := a.impl.screens[a.impl.current]; s != nil {
		return s.Keys()
	}
	return nil
}

func (a *App) helpBar() string {
	m := &a.impl
	l := m.env.Lang
	// Help and quit stay at the right whatever the width; the screen's keys come first on
	// the left, then the other global ones, cut when the line is full.
	left := a.keysOf()
	right := []key.Binding{binding(l, "ctrl+c", Text{"quitter", "quit"})}
	if !a.typing() {
		g := a.globalKeys()
		left = append(left, g[0], g[1], g[3])
		right = []key.Binding{g[2], g[4]}
	}
	r := a.renderKeys(right)
	w := max(m.width-ansi.StringWidth(r)-2, 0)
	return fitStyled(fitStyled(a.renderKeys(left), w)+"  "+r, m.width)
}

// renderKeys writes bindings as "key desc" pairs.
func (a *App) renderKeys(keys []key.Binding) string {
	st := a.impl.env.Styles
	var parts []string
	for _, k := range keys {
		h := k.Help()
		if h.Key == "" || !k.Enabled() {
			continue
		}
		parts = append(parts, st.Key.Render(h.Key)+" "+st.Muted.Render(h.Desc))
	}
	return strings.Join(parts, "  ")
}

// helpOverlay lists every binding: the screen's, then the global ones beside them when the
// body is too short for one column.
func (a *App) helpOverlay() string {
	m := &a.impl
	st, l := m.env.Styles, m.env.Lang
	section := func(title string, keys []key.Binding) string {
		var b strings.Builder
		b.WriteString(st.Label.Render(title))
		for _, k := range keys {
			if h := k.Help(); h.Key != "" {
				b.WriteString("\n  " + st.Key.Render(fit(h.Key, 8)) + " " + h.Desc)
			}
		}
		return b.String()
	}
	var parts []string
	if keys := a.keysOf(); len(keys) > 0 {
		parts = append(parts, section(Text{"Cet écran", "This screen"}.In(l), keys))
	}
	parts = append(parts, section(Text{"Partout", "Everywhere"}.In(l), a.globalKeys()))
	title := st.Title.Render(Text{"Aide — ", "Help — "}.In(l) + screenNames[m.current].In(l))
	foot := st.Muted.Render(Text{"esc ou ? ferme l'aide", "esc or ? closes the help"}.In(l))
	body := strings.Join(parts, "\n\n")
	if lipgloss.Height(body)+6 > a.bodySize().Height && len(parts) > 1 {
		body = lipgloss.JoinHorizontal(lipgloss.Top, parts[0], "    ", parts[1])
	}
	return st.Box.Render(title + "\n\n" + body + "\n\n" + foot)
}

// block cuts or pads s to exactly w×h cells' lines.
func block(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = fitStyled(l, w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
