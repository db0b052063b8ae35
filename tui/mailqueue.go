package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"valise/adminapi"
)

// The mail queue, opened with `m` from the Settings screen (issue 20): every mail the node
// keeps (no relay), still has to deliver, or failed to, with its bodies; `enter` shows one,
// `r` queues it again now, `d` discards it after a confirmation. Every decision is the
// node's (adminapi Outbox, RetryMail, DiscardMail); the list reloads on every tick.

// The mail queue's replies.
type (
	mailQueueLoadedMsg struct {
		mails []adminapi.OutboxMail
		err   error
	}
	mailRetriedMsg   struct{ mail adminapi.OutboxMail }
	mailDiscardedMsg struct{ id string }
)

// mailQueueMode is what the mail queue shows.
type mailQueueMode int

const (
	mailQueueList    mailQueueMode = iota
	mailQueueDetail                // one mail: its headers and text body
	mailQueueConfirm               // the discard confirmation
)

// mailQueue is the Settings screen's view of the mail queue.
type mailQueue struct {
	api     SettingsAPI
	env     Env
	table   Table
	confirm Confirm
	mode    mailQueueMode
	back    mailQueueMode // where the confirmation returns
	width   int
	height  int
	mails   []adminapi.OutboxMail // in the node's order
	loading bool                  // a load is in flight: a tick asks nothing more
	detail  adminapi.OutboxMail
	target  adminapi.OutboxMail // what the confirmation discards
	scroll  int                 // the detail's first line shown
}

func newMailQueue(api SettingsAPI, env Env) *mailQueue {
	q := &mailQueue{api: api, env: env}
	q.table = NewTable(env, []Column{
		{Title: Text{"État", "State"}, Width: 10},
		{Title: Text{"Créé", "Created"}, Width: 16},
		{Title: Text{"Sorte", "Kind"}, Width: 8},
		{Title: Text{"À", "To"}, Width: 12, Grow: true},
		{Title: Text{"Objet", "Subject"}, Width: 12, Grow: true},
		{Title: Text{"Ess.", "Tries"}, Width: 4},
		{Title: Text{"Erreur", "Last error"}, Width: 10, Grow: true},
	})
	return q
}

// mailStates name the mails' states for people.
var mailStates = map[string]Text{
	"outbox":  {"gardé", "kept"},
	"pending": {"en attente", "pending"},
	"sent":    {"envoyé", "sent"},
	"failed":  {"échoué", "failed"},
}

// mailKinds name the mails' kinds for people.
var mailKinds = map[string]Text{
	"send":        {"envoi", "send"},
	"receipt":     {"accusé", "receipt"},
	"verify_code": {"code", "code"},
	"infected":    {"infecté", "infected"},
	"test":        {"test", "test"},
}

// mailTone colours a mail's row: failed ones in the error tone.
func mailTone(state string) string {
	switch state {
	case "failed":
		return "error"
	case "outbox":
		return "warn"
	case "sent":
		return "muted"
	}
	return ""
}

// retriable is true for a mail the node can queue again: one not sent yet.
func retriable(m adminapi.OutboxMail) bool {
	return m.State == "pending" || m.State == "failed" || m.State == "outbox"
}

// openQueue shows the mail queue and loads it.
func (s *Settings) openQueue() tea.Cmd {
	s.queue = newMailQueue(s.api, s.env)
	s.queue.setSize(s.width, s.height)
	return s.queue.load()
}

// updateQueue gives msg to the mail queue while it is shown; done is true when the settings
// list has nothing more to do with msg. The queue's replies after it was closed are dropped.
func (s *Settings) updateQueue(msg tea.Msg) (cmd tea.Cmd, done bool) {
	q := s.queue
	switch msg := msg.(type) {
	case mailQueueLoadedMsg, mailRetriedMsg, mailDiscardedMsg:
		if q == nil {
			return nil, true
		}
		return q.update(msg), true
	case BodySizeMsg:
		if q != nil {
			q.setSize(msg.Width, msg.Height)
		}
	case LangMsg:
		if q != nil {
			q.env.Lang = msg.Lang
			q.table.SetLang(msg.Lang)
			q.setRows()
		}
	case TickMsg:
		if q != nil {
			return q.tick(), true
		}
	case tea.KeyPressMsg:
		if q != nil {
			cmd, closed := q.onKey(msg)
			if closed {
				s.queue = nil
			}
			return cmd, true
		}
	}
	return nil, false
}

func (q *mailQueue) load() tea.Cmd {
	q.loading = true
	api := q.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		out, err := api.Outbox(ctx)
		return mailQueueLoadedMsg{mails: out.Mails, err: err}
	}
}

// tick reloads the list unless a load is in flight.
func (q *mailQueue) tick() tea.Cmd {
	if q.loading {
		return nil
	}
	return q.load()
}

// call runs f with a bounded context; a failure becomes an ErrMsg saying what failed.
func (q *mailQueue) call(what Text, f func(ctx context.Context) (tea.Msg, error)) tea.Cmd {
	what1 := what.In(q.env.Lang)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		msg, err := f(ctx)
		if err != nil {
			return ErrMsg{Err: fmt.Errorf("%s: %w", what1, err)}
		}
		return msg
	}
}

func (q *mailQueue) update(msg tea.Msg) tea.Cmd {
	l := q.env.Lang
	switch msg := msg.(type) {
	case mailQueueLoadedMsg:
		q.loading = false
		if msg.err != nil {
			return callFailed(Text{"Lecture de la file des courriels", "Reading the mail queue"}.In(l), msg.err)
		}
		q.mails = msg.mails
		q.setRows()
		for _, m := range q.mails {
			if m.ID == q.detail.ID {
				q.detail = m
			}
		}
	case mailRetriedMsg:
		m := msg.mail
		text := Text{"Courriel %s remis en file (%s)", "Mail %s queued again (%s)"}.fmt(l, m.ID, textOf(mailStates, l, m.State))
		if m.State == "" {
			text = Text{"Courriel %s remis en file", "Mail %s queued again"}.fmt(l, m.ID)
		}
		return tea.Batch(toastNow(text, false), q.tick())
	case mailDiscardedMsg:
		if q.mode == mailQueueDetail && q.detail.ID == msg.id {
			q.mode = mailQueueList
		}
		return tea.Batch(toastNow(Text{"Courriel %s supprimé", "Mail %s discarded"}.fmt(l, msg.id), false), q.tick())
	}
	return nil
}

// onKey handles a key; closed is true when the queue goes back to the settings.
func (q *mailQueue) onKey(msg tea.KeyPressMsg) (cmd tea.Cmd, closed bool) {
	switch q.mode {
	case mailQueueConfirm:
		q.confirm, cmd = q.confirm.Update(msg)
		switch q.confirm.State() {
		case FormCancelled:
			q.mode = q.back
		case FormSubmitted:
			q.mode = q.back
			api, id := q.api, q.target.ID
			return tea.Batch(cmd, q.call(Text{"Suppression du courriel " + id, "Discarding mail " + id},
				func(ctx context.Context) (tea.Msg, error) {
					return mailDiscardedMsg{id: id}, api.DiscardMail(ctx, id)
				})), false
		}
		return cmd, false
	case mailQueueDetail:
		q.scroll = scrollBy(msg.String(), q.scroll, q.height)
		switch msg.String() {
		case "esc", "enter", "backspace":
			q.mode = mailQueueList
		case "r":
			return q.retry(q.detail), false
		case "d":
			q.askDiscard(q.detail)
		}
		return nil, false
	}
	if q.table.Filtering() {
		q.table, cmd = q.table.Update(msg)
		return cmd, false
	}
	m, ok := selectedOf(q.table, q.mails, func(m adminapi.OutboxMail) string { return m.ID })
	switch msg.String() {
	case "esc":
		if q.table.impl.filter == "" {
			return nil, true
		}
	case "enter":
		if ok {
			q.detail, q.scroll, q.mode = m, 0, mailQueueDetail
		}
		return nil, false
	case "r":
		if ok {
			return q.retry(m), false
		}
		return nil, false
	case "d":
		if ok {
			q.askDiscard(m)
		}
		return nil, false
	}
	q.table, cmd = q.table.Update(msg)
	return cmd, false
}

// scrollBy returns the first line a detail shows after the key k, in a body height lines
// high: up/k, down/j, pgup, pgdown/space and home scroll, other keys leave it.
func scrollBy(k string, scroll, height int) int {
	switch k {
	case "up", "k":
		return max(0, scroll-1)
	case "down", "j":
		return scroll + 1
	case "pgup":
		return max(0, scroll-height/2)
	case "pgdown", "space":
		return scroll + height/2
	case "home":
		return 0
	}
	return scroll
}

// retry asks the node to queue m again now; a sent mail cannot be.
func (q *mailQueue) retry(m adminapi.OutboxMail) tea.Cmd {
	l := q.env.Lang
	if !retriable(m) {
		return toastNow(Text{"Le courriel %s est déjà envoyé : il ne peut pas l'être de nouveau",
			"Mail %s was sent already: it cannot be sent again"}.fmt(l, m.ID), true)
	}
	api, id := q.api, m.ID
	return q.call(Text{"Nouvel essai du courriel " + id, "Retrying mail " + id}, func(ctx context.Context) (tea.Msg, error) {
		out, err := api.RetryMail(ctx, id)
		if out.ID == "" {
			out.ID = id
		}
		return mailRetriedMsg{mail: out}, err
	})
}

// askDiscard opens the confirmation of m's discard; "no" has the focus.
func (q *mailQueue) askDiscard(m adminapi.OutboxMail) {
	subject := m.Subject
	if subject == "" {
		subject = m.ID
	}
	q.back, q.target, q.mode = q.mode, m, mailQueueConfirm
	q.confirm = NewConfirm(q.env, Text{
		"Supprimer le courriel « %s » pour %s ? Il ne sera jamais envoyé.",
		"Discard the mail \"%s\" to %s? It will never be sent."}.fmt(q.env.Lang, subject, strings.Join(m.To, ", ")), true)
}

func (q *mailQueue) setRows() {
	l := q.env.Lang
	rows := make([]Row, 0, len(q.mails))
	for _, m := range q.mails {
		rows = append(rows, Row{ID: m.ID, Tone: mailTone(m.State), Cells: []string{
			textOf(mailStates, l, m.State), formatTime(parseTime(m.Created)), textOf(mailKinds, l, m.Kind),
			strings.Join(m.To, ", "), m.Subject, strconv.Itoa(m.Attempts), m.Error}})
	}
	q.table.SetRows(rows)
}

func (q *mailQueue) setSize(w, h int) {
	q.width, q.height = w, h
	q.table.SetSize(w, max(1, h-1))
}

// View draws the body.
func (q *mailQueue) View() string {
	switch q.mode {
	case mailQueueConfirm:
		return block(lipgloss.Place(q.width, q.height, lipgloss.Center, lipgloss.Center, q.confirm.View()), q.width, q.height)
	case mailQueueDetail:
		return clipBody(q.detailView(), q.width, q.height)
	}
	return clipBody(q.statusLine()+"\n"+q.table.View(), q.width, q.height)
}

// statusLine counts the mails by state.
func (q *mailQueue) statusLine() string {
	l, st := q.env.Lang, q.env.Styles
	count := map[string]int{}
	for _, m := range q.mails {
		count[m.State]++
	}
	parts := []string{st.Title.Render(Text{"File des courriels", "Mail queue"}.In(l)),
		Text{"%d courriels", "%d mails"}.fmt(l, len(q.mails))}
	for _, s := range []string{"failed", "pending", "outbox", "sent"} {
		if n := count[s]; n > 0 {
			parts = append(parts, st.tone(mailTone(s)).Render(fmt.Sprintf("%d %s", n, textOf(mailStates, l, s))))
		}
	}
	if q.loading && q.mails == nil {
		parts = append(parts, st.Muted.Render(Text{"chargement…", "loading…"}.In(l)))
	}
	return strings.Join(parts, " · ")
}

func (q *mailQueue) detailView() string {
	l, st, m := q.env.Lang, q.env.Styles, q.detail
	label := func(t Text) string { return st.Label.Render(fmt.Sprintf("%-10s", t.In(l))) }
	lines := []string{
		st.Title.Render(Text{"Courriel ", "Mail "}.In(l)+m.ID) + "  " +
			st.tone(mailTone(m.State)).Render(textOf(mailStates, l, m.State)),
		label(Text{"Créé", "Created"}) + " " + formatTime(parseTime(m.Created)),
		label(Text{"Sorte", "Kind"}) + " " + textOf(mailKinds, l, m.Kind) + " · " + m.Lang,
		label(Text{"De", "From"}) + " " + m.From,
		label(Text{"À", "To"}) + " " + strings.Join(m.To, ", "),
	}
	if len(m.Cc) > 0 {
		lines = append(lines, label(Text{"Copie", "Cc"})+" "+strings.Join(m.Cc, ", "))
	}
	if len(m.Bcc) > 0 {
		lines = append(lines, label(Text{"Copie c.", "Bcc"})+" "+strings.Join(m.Bcc, ", "))
	}
	lines = append(lines,
		label(Text{"Objet", "Subject"})+" "+m.Subject,
		label(Text{"Essais", "Attempts"})+" "+strconv.Itoa(m.Attempts))
	if m.Error != "" {
		// A relay's answer can be long: wrapped under itself.
		wrapped := strings.Split(ansi.Wrap(m.Error, max(q.width-11, 10), ""), "\n")
		for i, w := range wrapped {
			head := strings.Repeat(" ", 10)
			if i == 0 {
				head = label(Text{"Erreur", "Error"})
			}
			lines = append(lines, head+" "+st.Error.Render(w))
		}
	}
	lines = append(lines, "")
	body := m.Text
	if body == "" {
		body = st.Muted.Render(Text{"(pas de texte)", "(no text body)"}.In(l))
		if m.HTML != "" {
			body = st.Muted.Render(Text{"(pas de texte ; corps HTML de %d octets)", "(no text body; an HTML body of %d bytes)"}.fmt(l, len(m.HTML)))
		}
	}
	lines = append(lines, strings.Split(ansi.Wrap(strings.TrimRight(body, "\n"), max(q.width, 10), ""), "\n")...)
	q.scroll = min(q.scroll, max(0, len(lines)-q.height))
	return strings.Join(lines[q.scroll:], "\n")
}

// Keys lists the bindings in the current state.
func (q *mailQueue) Keys() []key.Binding {
	l := q.env.Lang
	switch q.mode {
	case mailQueueConfirm:
		return []key.Binding{binding(l, "y", Text{"supprimer", "discard"}, "y", "o"), binding(l, "n/esc", Text{"non", "no"}, "n", "esc")}
	case mailQueueDetail:
		return append([]key.Binding{binding(l, "↑/↓", Text{"défiler", "scroll"}, "up", "down", "pgup", "pgdown")},
			append(q.mailKeys(q.detail, true), binding(l, "esc", Text{"retour", "back"}, "esc"))...)
	}
	if q.table.Filtering() {
		return q.table.Keys()
	}
	m, ok := selectedOf(q.table, q.mails, func(m adminapi.OutboxMail) string { return m.ID })
	keys := []key.Binding{binding(l, "enter", Text{"lire", "read"}, "enter")}
	keys = append(keys, q.mailKeys(m, ok)...)
	keys = append(keys, binding(l, "esc", Text{"réglages", "settings"}, "esc"))
	return append(keys, q.table.Keys()...)
}

// mailKeys are the actions on m: retry while it is not sent, discard; none without a mail.
func (q *mailQueue) mailKeys(m adminapi.OutboxMail, ok bool) []key.Binding {
	l := q.env.Lang
	if !ok {
		return nil
	}
	var keys []key.Binding
	if retriable(m) {
		keys = append(keys, binding(l, "r", Text{"réessayer", "retry"}, "r"))
	}
	return append(keys, binding(l, "d", Text{"supprimer", "discard"}, "d"))
}

// typing is true while the confirmation or the table's filter has the focus.
func (q *mailQueue) typing() bool {
	return q.mode == mailQueueConfirm || q.table.Filtering()
}
