package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
	"valise/internal/newfile"
)

// JournalAPI is what the Journal screen calls: a subset of *adminapi.Client.
type JournalAPI interface {
	Journal(ctx context.Context, q adminapi.JournalQuery) (adminapi.JournalPage, error)
	ExportJournal(ctx context.Context, q adminapi.JournalQuery, w io.Writer) (int64, error)
	VerifyJournal(ctx context.Context) (adminapi.JournalReport, error)
}

var _ JournalAPI = (*adminapi.Client)(nil)

// journalPageSize is how many entries one page (and one tail re-query) asks for.
const journalPageSize = 100

// dateLayout is how the filters' dates are typed.
const dateLayout = "2006-01-02"

// callTimeout bounds every call a screen makes, so that a node that stopped answering turns
// into an error toast instead of a screen waiting forever.
const callTimeout = 30 * time.Second

// The Journal screen's replies. gen is the generation of the query they answer: a reply to a
// query since replaced (new filters, new search) is dropped.
type (
	journalPageMsg struct {
		gen    int
		append bool   // an older page, to add at the end
		before uint64 // the query's Before
		page   adminapi.JournalPage
		err    error
	}
	journalTailMsg struct {
		gen  int
		page adminapi.JournalPage
		err  error
	}
	journalExportMsg struct {
		path string
		n    int64
		err  error
	}
	journalVerifyMsg struct {
		report adminapi.JournalReport
		err    error
	}
)

// journalMode is what the Journal screen shows.
type journalMode int

const (
	journalList    journalMode = iota
	journalDetail              // one entry, with its details and hash
	journalFilters             // the filters' form
	journalSearch              // the full-text form
	journalExport              // the export path's form
)

// Journal is screen 4: the journal, newest first, paged, filtered, searched, tailed, exported
// and verified, every decision the node's.
type Journal struct {
	api     JournalAPI
	env     Env
	table   Table
	form    Form
	mode    journalMode
	width   int
	height  int
	query   adminapi.JournalQuery // the filters and search; Before, After and Limit unused
	entries []adminapi.JournalEntry
	next    uint64          // Before of the next (older) page; 0 at the start of the journal
	gen     int             // the generation of query
	loading bool            // a page is being loaded
	retry   *journalPageMsg // the page that could not be loaded, asked again on the next tick
	tail    bool            // live tail is on
	tailing bool            // a tail re-query is in flight
	verify  *adminapi.JournalReport
	detail  adminapi.JournalEntry
	scroll  int // the detail's first line shown
}

var _ Screen = (*Journal)(nil)

// NewJournal returns the Journal screen over api.
func NewJournal(api JournalAPI, env Env) Screen {
	j := &Journal{api: api, env: env}
	j.table = NewTable(env, []Column{
		{Title: Text{"N°", "No."}, Width: 6},
		{Title: Text{"Date", "Time"}, Width: 16},
		{Title: Text{"Auteur", "Actor"}, Width: 18, Grow: true},
		{Title: Text{"Action", "Action"}, Width: 16},
		{Title: Text{"Cible", "Target"}, Width: 10, Grow: true},
	})
	return j
}

// Init loads the newest page.
func (j *Journal) Init() tea.Cmd { return j.reload() }

// reload starts the query again from the newest entry.
func (j *Journal) reload() tea.Cmd {
	j.gen++
	j.loading, j.tailing, j.retry = true, false, nil
	return j.load(false, 0)
}

func (j *Journal) load(appendPage bool, before uint64) tea.Cmd {
	q := j.query
	q.Before, q.Limit = before, journalPageSize
	api, gen := j.api, j.gen
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		page, err := api.Journal(ctx, q)
		return journalPageMsg{gen: gen, append: appendPage, before: before, page: page, err: err}
	}
}

// tailCmd asks for the entries newer than the newest shown. The newest page with After set
// is enough: a node that ignores After still answers the newest entries, of which only the
// new ones are kept.
func (j *Journal) tailCmd() tea.Cmd {
	q := j.query
	q.Limit = journalPageSize
	if len(j.entries) > 0 {
		q.After = j.entries[0].Seq
	}
	api, gen := j.api, j.gen
	j.tailing = true
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		page, err := api.Journal(ctx, q)
		return journalTailMsg{gen: gen, page: page, err: err}
	}
}

// Update handles a message.
func (j *Journal) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case BodySizeMsg:
		j.width, j.height = msg.Width, msg.Height
		j.resize()
		return j, nil
	case LangMsg:
		j.env.Lang = msg.Lang
		j.table.SetLang(msg.Lang)
		j.setRows()
		return j, nil
	case TickMsg:
		if r := j.retry; r != nil && !j.loading {
			j.retry, j.loading = nil, true
			return j, j.load(r.append, r.before)
		}
		if j.tail && !j.tailing && !j.loading {
			return j, j.tailCmd()
		}
		return j, nil
	case journalPageMsg:
		return j, j.onPage(msg)
	case journalTailMsg:
		return j, j.onTail(msg)
	case journalExportMsg:
		if msg.err != nil {
			return j, callFailed(Text{"Export du journal", "Journal export"}.In(j.env.Lang), msg.err)
		}
		return j, toastNow(fmt.Sprintf(Text{"Journal exporté : %d octets dans %s", "Journal exported: %d bytes to %s"}.In(j.env.Lang), msg.n, msg.path), false)
	case journalVerifyMsg:
		if msg.err != nil {
			return j, callFailed(Text{"Vérification du journal", "Journal verification"}.In(j.env.Lang), msg.err)
		}
		r := msg.report
		j.verify = &r
		return j, nil
	case tea.KeyPressMsg:
		return j, j.onKey(msg)
	}
	if j.formOpen() {
		var cmd tea.Cmd
		j.form, cmd = j.form.Update(msg)
		return j, cmd
	}
	return j, nil
}

// formOpen is true while a form is what the screen shows.
func (j *Journal) formOpen() bool {
	return j.mode == journalFilters || j.mode == journalSearch || j.mode == journalExport
}

func (j *Journal) onPage(msg journalPageMsg) tea.Cmd {
	if msg.gen != j.gen {
		return nil
	}
	j.loading = false
	if msg.err != nil {
		j.retry = &msg
		return callFailed(Text{"Lecture du journal", "Reading the journal"}.In(j.env.Lang), msg.err)
	}
	if msg.append {
		j.entries = append(j.entries, olderThan(msg.page.Entries, j.oldest())...)
	} else {
		j.entries = msg.page.Entries
	}
	j.next = msg.page.Next
	j.setRows()
	return nil
}

func (j *Journal) onTail(msg journalTailMsg) tea.Cmd {
	if msg.gen != j.gen {
		return nil
	}
	j.tailing = false
	if msg.err != nil {
		return callFailed(Text{"Suivi du journal", "Journal tail"}.In(j.env.Lang), msg.err)
	}
	var newest uint64
	if len(j.entries) > 0 {
		newest = j.entries[0].Seq
	}
	var fresh []adminapi.JournalEntry
	for _, e := range msg.page.Entries {
		if e.Seq > newest {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) > 0 {
		j.entries = append(fresh, j.entries...)
		j.setRows()
	}
	return nil
}

// oldest returns the smallest Seq shown, 0 when none is.
func (j *Journal) oldest() uint64 {
	if len(j.entries) == 0 {
		return 0
	}
	return j.entries[len(j.entries)-1].Seq
}

// olderThan keeps the entries older than seq (all when seq is 0): a page that overlaps the
// one shown, because entries were added meanwhile, adds nothing twice.
func olderThan(entries []adminapi.JournalEntry, seq uint64) []adminapi.JournalEntry {
	if seq == 0 {
		return entries
	}
	var out []adminapi.JournalEntry
	for _, e := range entries {
		if e.Seq < seq {
			out = append(out, e)
		}
	}
	return out
}

func (j *Journal) onKey(msg tea.KeyPressMsg) tea.Cmd {
	switch j.mode {
	case journalFilters, journalSearch, journalExport:
		var cmd tea.Cmd
		j.form, cmd = j.form.Update(msg)
		switch j.form.State() {
		case FormCancelled:
			j.mode = journalList
		case FormSubmitted:
			return tea.Batch(cmd, j.submit())
		}
		return cmd
	case journalDetail:
		j.scroll = scrollBy(msg.String(), j.scroll, j.height)
		switch msg.String() {
		case "esc", "enter", "backspace":
			j.mode = journalList
		}
		return nil
	}
	if j.table.Filtering() {
		var cmd tea.Cmd
		j.table, cmd = j.table.Update(msg)
		return cmd
	}
	switch msg.String() {
	case "/":
		j.openSearch()
		return nil
	case "f":
		j.openFilters()
		return nil
	case "x":
		j.openExport()
		return nil
	case "t":
		j.tail = !j.tail
		if j.tail && !j.loading && !j.tailing {
			return j.tailCmd()
		}
		return nil
	case "v":
		api := j.api
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			r, err := api.VerifyJournal(ctx)
			return journalVerifyMsg{report: r, err: err}
		}
	case "r":
		return j.reload()
	case "esc":
		if j.filtered() {
			j.query = adminapi.JournalQuery{}
			return j.reload()
		}
		j.verify = nil
		return nil
	case "enter":
		row, ok := j.table.Selected()
		if !ok {
			return nil
		}
		for _, e := range j.entries {
			if strconv.FormatUint(e.Seq, 10) == row.ID {
				j.detail, j.scroll, j.mode = e, 0, journalDetail
			}
		}
		return nil
	}
	var cmd tea.Cmd
	j.table, cmd = j.table.Update(msg)
	switch msg.String() {
	case "pgdown", "down", "j":
		if row, ok := j.table.Selected(); ok && j.next > 0 && !j.loading &&
			row.ID == strconv.FormatUint(j.oldest(), 10) {
			j.loading = true
			return tea.Batch(cmd, j.load(true, j.next))
		}
	}
	return cmd
}

// filtered is true when a filter or a search narrows the list.
func (j *Journal) filtered() bool { return j.query != (adminapi.JournalQuery{}) }

func (j *Journal) openSearch() {
	j.form = NewForm(j.env, Text{"Rechercher dans le journal", "Search the journal"}, []Field{{
		Key:   "q",
		Label: Text{"Texte", "Text"},
		Hint:  Text{"auteur, action, cible ou détails", "actor, action, target or details"},
		Value: j.query.Query,
	}})
	j.mode = journalSearch
	j.resize()
}

func (j *Journal) openFilters() {
	loc := j.env.Now().Location()
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(dateLayout)
	}
	until := ""
	if !j.query.Until.IsZero() {
		until = day(j.query.Until.Add(-time.Nanosecond)) // Until is the next day's start
	}
	j.form = NewForm(j.env, Text{"Filtrer le journal", "Filter the journal"}, []Field{
		{Key: "action", Label: Text{"Action", "Action"}, Hint: Text{"préfixe : user. ou send.revoke", "prefix: user. or send.revoke"}, Value: j.query.Action},
		{Key: "actor", Label: Text{"Auteur", "Actor"}, Hint: Text{"une partie du nom", "part of the name"}, Value: j.query.Actor},
		{Key: "since", Label: Text{"Depuis le", "Since"}, Hint: Text{"AAAA-MM-JJ", "YYYY-MM-DD"}, Value: day(j.query.Since), Validate: j.validDate},
		{Key: "until", Label: Text{"Jusqu'au", "Until"}, Hint: Text{"AAAA-MM-JJ, inclus", "YYYY-MM-DD, included"}, Value: until, Validate: j.validDate},
	})
	j.mode = journalFilters
	j.resize()
}

func (j *Journal) openExport() {
	j.form = NewForm(j.env, Text{"Exporter le journal (CSV)", "Export the journal (CSV)"}, []Field{{
		Key:      "path",
		Label:    Text{"Fichier", "File"},
		Hint:     Text{"créé en 0600, avec les filtres affichés", "created 0600, with the filters shown"},
		Value:    "journal-" + j.env.Now().Format(dateLayout) + ".csv",
		Validate: j.validExportPath,
	}})
	j.mode = journalExport
	j.resize()
}

// validDate accepts "" or a YYYY-MM-DD date.
func (j *Journal) validDate(s string) error { return validDay(j.env.Lang, s) }

// validDay accepts "" or a YYYY-MM-DD date, as the filters' date fields take them.
func validDay(l Lang, s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if _, err := time.Parse(dateLayout, strings.TrimSpace(s)); err != nil {
		return errors.New(Text{"date attendue : AAAA-MM-JJ", "expected a date: YYYY-MM-DD"}.In(l))
	}
	return nil
}

// dayRange turns a filter's validated "since" and "until" days into [since, until) in loc,
// until being the day after the one typed (it is inclusive); ok is false when until comes
// before since. An empty day gives a zero time.
func dayRange(sinceDay, untilDay string, loc *time.Location) (since, until time.Time, ok bool) {
	if s := strings.TrimSpace(sinceDay); s != "" {
		since, _ = time.ParseInLocation(dateLayout, s, loc) // validated by the form
	}
	if s := strings.TrimSpace(untilDay); s != "" {
		d, _ := time.ParseInLocation(dateLayout, s, loc)
		until = d.AddDate(0, 0, 1)
	}
	return since, until, since.IsZero() || until.IsZero() || since.Before(until)
}

// dayFilters describes since and until as the filter lines show them.
func dayFilters(since, until time.Time, loc *time.Location) []string {
	var f []string
	if !since.IsZero() {
		f = append(f, "≥ "+since.In(loc).Format(dateLayout))
	}
	if !until.IsZero() {
		f = append(f, "≤ "+until.Add(-time.Nanosecond).In(loc).Format(dateLayout))
	}
	return f
}

// validExportPath accepts a new file in an existing directory: an export never overwrites.
func (j *Journal) validExportPath(s string) error { return validNewFilePath(j.env.Lang)(s) }

// submit acts on the submitted form.
func (j *Journal) submit() tea.Cmd {
	v := j.form.Values()
	switch j.mode {
	case journalSearch:
		j.query.Query = strings.TrimSpace(v["q"])
	case journalFilters:
		since, until, ok := dayRange(v["since"], v["until"], j.env.Now().Location())
		if !ok {
			j.form.SetError("until", Text{"doit suivre la date de début", "must not be before the start date"}.In(j.env.Lang))
			return nil
		}
		j.query.Action = strings.TrimSpace(v["action"])
		j.query.Actor = strings.TrimSpace(v["actor"])
		j.query.Since, j.query.Until = since, until
	case journalExport:
		j.mode = journalList
		return j.export(v["path"])
	}
	j.mode = journalList
	return j.reload()
}

// export writes the entries matching the filters shown to a new file, 0600: the journal
// names users and what they did.
func (j *Journal) export(path string) tea.Cmd {
	api, q := j.api, j.query
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*callTimeout)
		defer cancel()
		var n int64
		err := newfile.Write(path, func(w io.Writer) (err error) { // a partial export is worse than none
			n, err = api.ExportJournal(ctx, q, w)
			return err
		})
		if err != nil {
			return journalExportMsg{path: path, err: err}
		}
		return journalExportMsg{path: path, n: n}
	}
}

// setRows rebuilds the table's rows from the entries.
func (j *Journal) setRows() {
	loc := j.env.Now().Location()
	rows := make([]Row, 0, len(j.entries))
	for _, e := range j.entries {
		tone := ""
		if strings.HasSuffix(e.Action, ".failed") || strings.HasSuffix(e.Action, ".refused") {
			tone = "warn"
		}
		rows = append(rows, Row{
			ID:    strconv.FormatUint(e.Seq, 10),
			Cells: []string{strconv.FormatUint(e.Seq, 10), e.Time.In(loc).Format("2006-01-02 15:04"), e.Actor, e.Action, e.Target},
			Tone:  tone,
		})
	}
	j.table.SetRows(rows)
}

func (j *Journal) resize() {
	j.table.SetSize(j.width, max(1, j.height-1))
	if j.mode != journalList && j.mode != journalDetail {
		j.form.SetSize(min(j.width, 72), j.height)
	}
}

// View draws the body.
func (j *Journal) View() string {
	switch j.mode {
	case journalFilters, journalSearch, journalExport:
		return lipgloss.Place(j.width, j.height, lipgloss.Center, lipgloss.Center, j.form.View())
	case journalDetail:
		return clipBody(j.detailView(), j.width, j.height)
	}
	return clipBody(j.statusLine()+"\n"+j.table.View(), j.width, j.height)
}

// statusLine says what the list shows: the verify result, the filters, the tail.
func (j *Journal) statusLine() string {
	l, st := j.env.Lang, j.env.Styles
	var parts []string
	if r := j.verify; r != nil {
		if r.OK {
			parts = append(parts, st.OK.Render(fmt.Sprintf(Text{"✓ chaîne intacte : %d entrées", "✓ chain intact: %d entries"}.In(l), r.Entries)))
		} else {
			parts = append(parts, st.Error.Render(fmt.Sprintf(Text{"✗ chaîne rompue à l'entrée %d (dernière bonne : %d)", "✗ chain broken at entry %d (last good: %d)"}.In(l), r.BrokenAt, r.HeadSeq)))
		}
	}
	q := j.query
	var f []string
	if q.Query != "" {
		f = append(f, fmt.Sprintf("%q", q.Query))
	}
	if q.Action != "" {
		f = append(f, Text{"action ", "action "}.In(l)+q.Action+"*")
	}
	if q.Actor != "" {
		f = append(f, Text{"auteur ", "actor "}.In(l)+q.Actor)
	}
	f = append(f, dayFilters(q.Since, q.Until, j.env.Now().Location())...)
	if len(f) > 0 {
		parts = append(parts, Text{"filtres : ", "filters: "}.In(l)+strings.Join(f, ", "))
	}
	if j.tail {
		parts = append(parts, st.OK.Render(Text{"● suivi en direct", "● live tail"}.In(l)))
	}
	if j.loading {
		parts = append(parts, st.Muted.Render(Text{"chargement…", "loading…"}.In(l)))
	}
	if len(parts) == 0 {
		shown := Text{"%d entrées affichées", "%d entries shown"}
		if j.next > 0 {
			shown = Text{"%d entrées affichées, les suivantes avec pgdown en bas", "%d entries shown, older ones with pgdown at the end"}
		}
		parts = append(parts, st.Muted.Render(fmt.Sprintf(shown.In(l), len(j.entries))))
	}
	return strings.Join(parts, "  ")
}

func (j *Journal) detailView() string {
	l, st, e := j.env.Lang, j.env.Styles, j.detail
	details := e.Details
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(details), "", "  ") == nil {
		details = buf.String()
	}
	label := func(t Text) string { return st.Label.Render(fmt.Sprintf("%-9s", t.In(l))) }
	lines := []string{
		st.Title.Render(fmt.Sprintf(Text{"Entrée %d", "Entry %d"}.In(l), e.Seq)),
		label(Text{"Date", "Time"}) + " " + e.Time.In(j.env.Now().Location()).Format(time.RFC3339),
		label(Text{"Auteur", "Actor"}) + " " + e.Actor,
		label(Text{"Action", "Action"}) + " " + e.Action,
		label(Text{"Cible", "Target"}) + " " + e.Target,
		label(Text{"Empreinte", "Hash"}) + " " + e.Hash,
		label(Text{"Détails", "Details"}),
	}
	if details == "" {
		details = st.Muted.Render(Text{"(aucun)", "(none)"}.In(l))
	}
	lines = append(lines, strings.Split(details, "\n")...)
	j.scroll = min(j.scroll, max(0, len(lines)-j.height))
	return strings.Join(lines[j.scroll:], "\n")
}

// Keys lists the bindings in the current state.
func (j *Journal) Keys() []key.Binding {
	l := j.env.Lang
	switch j.mode {
	case journalFilters, journalSearch, journalExport:
		return j.form.Keys()
	case journalDetail:
		return []key.Binding{
			binding(l, "↑/↓", Text{"défiler", "scroll"}, "up", "down", "pgup", "pgdown"),
			binding(l, "esc", Text{"retour", "back"}, "esc"),
		}
	}
	tail := Text{"suivre en direct", "live tail"}
	if j.tail {
		tail = Text{"arrêter le suivi", "stop the tail"}
	}
	keys := []key.Binding{
		binding(l, "enter", Text{"détails", "details"}, "enter"),
		binding(l, "/", Text{"rechercher", "search"}, "/"),
		binding(l, "f", Text{"filtrer", "filter"}, "f"),
		binding(l, "t", tail, "t"),
		binding(l, "x", Text{"exporter", "export"}, "x"),
		binding(l, "v", Text{"vérifier", "verify"}, "v"),
		binding(l, "r", Text{"recharger", "reload"}, "r"),
	}
	if j.filtered() {
		keys = append(keys, binding(l, "esc", Text{"sans filtre", "clear filters"}, "esc"))
	}
	return append(keys, tableKeysBut(j.table, "/")...)
}

// tableKeysBut returns the table's bindings but those whose help is one of skip: the keys
// the screen takes for itself.
func tableKeysBut(t Table, skip ...string) []key.Binding {
	var out []key.Binding
	for _, b := range t.Keys() {
		if !slices.Contains(skip, b.Help().Key) {
			out = append(out, b)
		}
	}
	return out
}

// Typing is true while a form has the focus.
func (j *Journal) Typing() bool {
	return j.formOpen() || j.table.Filtering()
}

// callFailed reports err, in the context what (in the console's language), as an ErrMsg.
func callFailed(what string, err error) tea.Cmd {
	return func() tea.Msg { return ErrMsg{Err: fmt.Errorf("%s: %w", what, err)} }
}

// toastNow shows text as a toast.
func toastNow(text string, isErr bool) tea.Cmd {
	return func() tea.Msg { return ToastMsg{Text: text, Err: isErr} }
}

// clipBody cuts s to width×height cells, so a screen never draws past its body.
func clipBody(s string, width, height int) string {
	if width <= 0 || height <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	style := lipgloss.NewStyle().MaxWidth(width)
	for i, ln := range lines {
		lines[i] = style.Render(ln)
	}
	return strings.Join(lines, "\n")
}
