package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Table is a scrolling table with a cursor, a filter (`/`, typed text matches any cell,
// case-insensitive; esc clears) and a sort (`s` cycles the sort column, `S` reverses).
type Table struct{ impl tableImpl }

type tableImpl struct {
	env    Env
	cols   []Column
	rows   []Row
	shown  []int // indexes into rows, filtered and sorted
	cursor int   // index into shown
	offset int   // first shown row drawn
	width  int
	height int

	filter    string
	filtering bool
	sortCol   int // -1: the rows' own order
	sortDesc  bool
}

// NewTable returns an empty table with cols.
func NewTable(env Env, cols []Column) Table {
	return Table{impl: tableImpl{env: env, cols: cols, sortCol: -1, width: 80, height: 10}}
}

// SetRows replaces the rows, keeping the cursor on the same ID when it is still there.
func (t *Table) SetRows(rows []Row) {
	id := ""
	if r, ok := t.Selected(); ok {
		id = r.ID
	}
	t.impl.rows = rows
	t.impl.refresh(id)
}

// SetSize sets the cells the table may use, its header and filter line included.
func (t *Table) SetSize(width, height int) {
	t.impl.width, t.impl.height = max(width, 1), max(height, 2)
	t.impl.scroll()
}

// SetLang switches the titles' language.
func (t *Table) SetLang(l Lang) { t.impl.env.Lang = l }

// Update handles a key: up/down/k/j, pgup/pgdown, home/end, `/` (filter), `s`/`S` (sort);
// while Filtering every printable key goes to the filter, enter keeps it, esc clears it.
func (t Table) Update(msg tea.Msg) (Table, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return t, nil
	}
	m := &t.impl
	id := ""
	if r, ok := t.Selected(); ok {
		id = r.ID
	}
	if m.filtering {
		switch k.String() {
		case "enter":
			m.filtering = false
		case "esc":
			m.filtering, m.filter = false, ""
			m.refresh(id)
		case "backspace":
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
				m.refresh(id)
			}
		case "ctrl+u":
			m.filter = ""
			m.refresh(id)
		case "up", "down", "pgup", "pgdown":
			m.move(k.String())
		default:
			if k.Text != "" && k.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
				m.filter += k.Text
				m.refresh(id)
			}
		}
		return t, nil
	}
	switch k.String() {
	case "/":
		m.filtering = true
	case "esc":
		if m.filter != "" {
			m.filter = ""
			m.refresh(id)
		}
	case "s":
		m.sortCol = (m.sortCol + 1) % max(len(m.cols), 1)
		m.sortDesc = false
		m.refresh(id)
	case "S":
		if m.sortCol < 0 {
			m.sortCol = 0
		}
		m.sortDesc = !m.sortDesc
		m.refresh(id)
	default:
		m.move(k.String())
	}
	return t, nil
}

// move moves the cursor for a navigation key; other keys do nothing.
func (m *tableImpl) move(k string) {
	page := max(m.bodyHeight()-1, 1)
	switch k {
	case "up", "k":
		m.cursor--
	case "down", "j":
		m.cursor++
	case "pgup":
		m.cursor -= page
	case "pgdown":
		m.cursor += page
	case "home", "g":
		m.cursor = 0
	case "end", "G":
		m.cursor = len(m.shown) - 1
	default:
		return
	}
	m.scroll()
}

// refresh recomputes the shown rows and puts the cursor back on id when it is shown.
func (m *tableImpl) refresh(id string) {
	m.shown = m.shown[:0]
	f := strings.ToLower(m.filter)
	for i, r := range m.rows {
		if f == "" || rowMatches(r, f) {
			m.shown = append(m.shown, i)
		}
	}
	if c := m.sortCol; c >= 0 {
		sort.SliceStable(m.shown, func(a, b int) bool {
			x, y := cell(m.rows[m.shown[a]], c), cell(m.rows[m.shown[b]], c)
			if m.sortDesc {
				return less(y, x)
			}
			return less(x, y)
		})
	}
	for i, r := range m.shown {
		if id != "" && m.rows[r].ID == id {
			m.cursor = i
		}
	}
	m.scroll()
}

// scroll clamps the cursor and keeps it in the drawn rows.
func (m *tableImpl) scroll() {
	m.cursor = min(max(m.cursor, 0), max(len(m.shown)-1, 0))
	h := m.bodyHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = min(max(m.offset, 0), max(len(m.shown)-h, 0))
}

// bodyHeight is the number of rows drawn: the height less the header and the filter line.
func (m *tableImpl) bodyHeight() int {
	h := m.height - 1
	if m.filtering || m.filter != "" {
		h--
	}
	return max(h, 1)
}

func rowMatches(r Row, lower string) bool {
	for _, c := range r.Cells {
		if strings.Contains(strings.ToLower(c), lower) {
			return true
		}
	}
	return false
}

func cell(r Row, i int) string {
	if i < len(r.Cells) {
		return r.Cells[i]
	}
	return ""
}

// less orders two cells: numerically when both are numbers, else case-insensitively.
func less(a, b string) bool {
	x, errX := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, errY := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if errX == nil && errY == nil {
		return x < y
	}
	return strings.ToLower(a) < strings.ToLower(b)
}

// widths shares the table's width among the columns, one space between them.
func (m *tableImpl) widths() []int {
	w := make([]int, len(m.cols))
	left, grow := m.width-max(len(m.cols)-1, 0), 0
	for i, c := range m.cols {
		w[i] = max(c.Width, ansi.StringWidth(c.Title.In(m.env.Lang))+1)
		left -= w[i]
		if c.Grow {
			grow++
		}
	}
	for i, c := range m.cols {
		if c.Grow && left > 0 {
			extra := left / grow
			w[i] += extra
			left -= extra
			grow--
		}
	}
	return w
}

// View draws the table.
func (t Table) View() string {
	m := t.impl
	st := m.env.Styles
	w := m.widths()
	var b strings.Builder
	titles := make([]string, len(m.cols))
	for i, c := range m.cols {
		title := c.Title.In(m.env.Lang)
		if i == m.sortCol {
			title += map[bool]string{false: "▲", true: "▼"}[m.sortDesc]
		}
		titles[i] = title
	}
	b.WriteString(st.Header.Render(fit(line(titles, w), m.width)))
	h := m.bodyHeight()
	for i := m.offset; i < m.offset+h; i++ {
		b.WriteByte('\n')
		if i >= len(m.shown) {
			if i == 0 {
				b.WriteString(st.Muted.Render(fit(Text{"(aucune ligne)", "(no rows)"}.In(m.env.Lang), m.width)))
			}
			continue
		}
		r := m.rows[m.shown[i]]
		s := st.tone(r.Tone)
		if i == m.cursor {
			s = s.Inherit(st.Selected)
		}
		b.WriteString(s.Render(fit(line(r.Cells, w), m.width)))
	}
	if m.filtering || m.filter != "" {
		b.WriteByte('\n')
		f := "/" + m.filter
		if m.filtering {
			f += "▏"
		}
		f += st.Muted.Render(fmt.Sprintf(" (%d/%d)", len(m.shown), len(m.rows)))
		b.WriteString(fitStyled(f, m.width))
	}
	return lipgloss.NewStyle().Height(h + 1 + boolInt(m.filtering || m.filter != "")).Render(b.String())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// line joins cells padded or cut to widths.
func line(cells []string, widths []int) string {
	parts := make([]string, len(widths))
	for i, w := range widths {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		parts[i] = fit(c, w)
	}
	return strings.Join(parts, " ")
}

// fit pads or cuts plain text s to exactly w cells.
func fit(s string, w int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", max(w-ansi.StringWidth(s), 0))
}

// fitStyled cuts styled text s to at most w cells.
func fitStyled(s string, w int) string {
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// Selected returns the row under the cursor, false when no row is shown.
func (t Table) Selected() (Row, bool) {
	m := t.impl
	if m.cursor < 0 || m.cursor >= len(m.shown) {
		return Row{}, false
	}
	return m.rows[m.shown[m.cursor]], true
}

// Filtering is true while the filter line has the focus (the screen is then Typing).
func (t Table) Filtering() bool { return t.impl.filtering }

// Keys are the table's bindings for the help bar.
func (t Table) Keys() []key.Binding {
	l := t.impl.env.Lang
	if t.impl.filtering {
		return []key.Binding{
			binding(l, "enter", Text{"garder le filtre", "keep filter"}),
			binding(l, "esc", Text{"effacer le filtre", "clear filter"}),
		}
	}
	return []key.Binding{
		binding(l, "↑/↓", Text{"déplacer", "move"}, "up", "down", "k", "j"),
		binding(l, "/", Text{"filtrer", "filter"}),
		binding(l, "s", Text{"trier", "sort"}),
		binding(l, "S", Text{"inverser le tri", "reverse sort"}),
	}
}

// binding returns a key binding shown as help with desc in l; keys default to help.
func binding(l Lang, help string, desc Text, keys ...string) key.Binding {
	if len(keys) == 0 {
		keys = []string{help}
	}
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc.In(l)))
}
