package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
)

// TransfersAPI is what the Transfers screen calls: a subset of *adminapi.Client's methods.
type TransfersAPI interface {
	ListTransfers(ctx context.Context, q adminapi.TransferQuery) (adminapi.TransferPage, error)
	GetTransfer(ctx context.Context, id string) (adminapi.TransferDetail, error)
	RevokeTransfer(ctx context.Context, id string) (adminapi.TransferInfo, error)
}

var _ TransfersAPI = (*adminapi.Client)(nil)

// transferStates are the state filter's values, cycled by `f`; "" is any.
var transferStates = []string{"", adminapi.TransferActive, adminapi.TransferWaiting, adminapi.TransferUploading,
	adminapi.TransferExpired, adminapi.TransferRevoked, adminapi.TransferSuspended}

type transfersMode int

const (
	transfersList    transfersMode = iota
	transfersDetail                // one send's detail
	transfersFilter                // the filter form
	transfersConfirm               // the revoke confirmation
)

// Transfers is screen 3: the sends and uploads in progress, live, filtered, revocable.
type Transfers struct {
	api   TransfersAPI
	env   Env
	w, h  int
	table Table
	mode  transfersMode
	back  transfersMode

	query   adminapi.TransferQuery
	page    adminapi.TransferPage
	seq     int  // the last list load asked; older answers are dropped
	loading bool // a list load is under way: ticks do not pile up more
	started bool // Init ran: the screen was shown once, ticks reload it

	detail    adminapi.TransferDetail
	detailSeq int

	form    Form
	confirm Confirm
	target  adminapi.TransferInfo // what the confirmation revokes
}

// NewTransfers returns the Transfers screen over api.
func NewTransfers(api TransfersAPI, env Env) Screen {
	t := &Transfers{api: api, env: env}
	t.table = NewTable(env, []Column{
		{Title: Text{"Créé", "Created"}, Width: 16},
		{Title: Text{"Propriétaire", "Owner"}, Width: 14, Grow: true},
		{Title: Text{"Objet", "Subject"}, Width: 10, Grow: true},
		{Title: Text{"État", "State"}, Width: 10},
		{Title: Text{"Taille", "Size"}, Width: 10},
		// downloads/recipients
		{Title: Text{"Téléch.", "Downl."}, Width: 7},
	})
	return t
}

// The Transfers screen's own replies.
type (
	transfersLoadedMsg struct {
		seq  int
		page adminapi.TransferPage
	}
	transferLoadedMsg struct {
		seq    int
		detail adminapi.TransferDetail
	}
	transferRevokedMsg struct{ info adminapi.TransferInfo }
	// transfersFailedMsg ends a list load that failed, so the next tick tries again.
	transfersFailedMsg struct{ err error }
)

// Init loads the first page.
func (t *Transfers) Init() tea.Cmd {
	t.started = true
	return t.load()
}

func (t *Transfers) load() tea.Cmd {
	t.seq++
	t.loading = true
	seq, q, api := t.seq, t.query, t.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		p, err := api.ListTransfers(ctx, q)
		if err != nil {
			return transfersFailedMsg{err}
		}
		return transfersLoadedMsg{seq: seq, page: p}
	}
}

func (t *Transfers) loadDetail(id string) tea.Cmd {
	t.detailSeq++
	seq, api := t.detailSeq, t.api
	return callCmd(func(ctx context.Context) (tea.Msg, error) {
		d, err := api.GetTransfer(ctx, id)
		return transferLoadedMsg{seq: seq, detail: d}, err
	})
}

// Update handles a message.
func (t *Transfers) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case BodySizeMsg:
		t.w, t.h = msg.Width, msg.Height
		t.table.SetSize(t.w, max(t.h-1, 1))
		if t.mode == transfersFilter {
			t.form.SetSize(t.w, t.h)
		}
		return t, nil
	case LangMsg:
		t.env.Lang = msg.Lang
		t.table.SetLang(msg.Lang)
		t.setRows()
		return t, nil
	case TickMsg:
		var cmds []tea.Cmd
		if t.started && !t.loading {
			cmds = append(cmds, t.load())
		}
		if t.mode == transfersDetail {
			cmds = append(cmds, t.loadDetail(t.detail.ID))
		}
		return t, tea.Batch(cmds...)
	case transfersLoadedMsg:
		if msg.seq == t.seq {
			t.loading = false
			t.page = msg.page
			t.setRows()
		}
		return t, nil
	case transfersFailedMsg:
		t.loading = false
		err := msg.err
		return t, func() tea.Msg { return ErrMsg{Err: err} }
	case transferLoadedMsg:
		if msg.seq == t.detailSeq {
			t.detail = msg.detail
		}
		return t, nil
	case transferRevokedMsg:
		if t.detail.ID == msg.info.ID {
			t.detail.TransferInfo = msg.info
		}
		return t, tea.Batch(t.load(), toastCmd(Text{"Envoi %s révoqué", "Send %s revoked"}.fmt(t.env.Lang, msg.info.ID)))
	case tea.KeyPressMsg:
		return t.key(msg)
	}
	if t.mode == transfersFilter {
		return t.updateForm(msg)
	}
	return t, nil
}

func (t *Transfers) key(msg tea.KeyPressMsg) (Screen, tea.Cmd) {
	switch t.mode {
	case transfersFilter:
		return t.updateForm(msg)
	case transfersConfirm:
		var cmd tea.Cmd
		t.confirm, cmd = t.confirm.Update(msg)
		switch t.confirm.State() {
		case FormCancelled:
			t.mode = t.back
		case FormSubmitted:
			t.mode = t.back
			api, id := t.api, t.target.ID
			return t, tea.Batch(cmd, callCmd(func(ctx context.Context) (tea.Msg, error) {
				info, err := api.RevokeTransfer(ctx, id)
				return transferRevokedMsg{info}, err
			}))
		}
		return t, cmd
	case transfersDetail:
		switch msg.String() {
		case "esc":
			t.mode = transfersList
		case "r", "d":
			t.askRevoke(t.detail.TransferInfo)
		}
		return t, nil
	}
	if t.table.Filtering() {
		var cmd tea.Cmd
		t.table, cmd = t.table.Update(msg)
		return t, cmd
	}
	switch msg.String() {
	case "/", "u":
		t.openFilter()
		return t, nil
	case "f":
		for i, s := range transferStates {
			if s == t.query.State {
				t.query.State = transferStates[(i+1)%len(transferStates)]
				break
			}
		}
		return t, t.load()
	case "esc":
		if t.filtered() {
			t.query = adminapi.TransferQuery{}
			return t, t.load()
		}
		return t, nil
	case "enter", "r", "d":
		info, ok := t.selected()
		if !ok {
			return t, nil
		}
		if msg.String() != "enter" {
			t.askRevoke(info)
			return t, nil
		}
		if info.Kind != "send" {
			return t, nil // an upload in progress has no detail
		}
		t.detail = adminapi.TransferDetail{TransferInfo: info}
		t.mode = transfersDetail
		return t, t.loadDetail(info.ID)
	}
	var cmd tea.Cmd
	t.table, cmd = t.table.Update(msg)
	return t, cmd
}

func (t *Transfers) filtered() bool {
	q := t.query
	return q.User != "" || q.State != "" || q.Kind != "" || q.Query != "" || !q.Since.IsZero() || !q.Until.IsZero()
}

// day is t as a filter's date field shows it, "" for the zero time (or just before it).
func day(t time.Time, loc *time.Location) string {
	if t.IsZero() || t.Year() < 1 {
		return ""
	}
	return t.In(loc).Format(dateLayout)
}

func (t *Transfers) selected() (adminapi.TransferInfo, bool) {
	return selectedOf(t.table, t.page.Transfers, func(info adminapi.TransferInfo) string { return info.ID })
}

func (t *Transfers) askRevoke(info adminapi.TransferInfo) {
	l := t.env.Lang
	if info.Kind != "send" || info.State == adminapi.TransferRevoked || info.State == adminapi.TransferExpired {
		return
	}
	subject := info.Subject
	if subject == "" {
		subject = info.ID
	}
	t.back, t.target = t.mode, info
	t.confirm = NewConfirm(t.env, Text{
		"Révoquer l'envoi « %s » de %s ? Son lien cessera de fonctionner aussitôt.",
		"Revoke the send \"%s\" by %s? Its link stops working at once."}.fmt(l, subject, info.Owner), true)
	t.mode = transfersConfirm
}

func (t *Transfers) openFilter() {
	l, q := t.env.Lang, t.query
	kinds := []string{anyChoice, "send", "upload"}
	states := append([]string{anyChoice}, transferStates[1:]...)
	t.form = NewForm(t.env, Text{"Filtrer les transferts", "Filter the transfers"}, []Field{
		{Key: "q", Label: Text{"Texte", "Text"}, Hint: Text{"objet, fichier ou destinataire", "subject, file or recipient"}, Value: q.Query},
		{Key: "user", Label: Text{"Propriétaire", "Owner"}, Hint: Text{"adresse exacte", "exact e-mail"}, Value: q.User,
			Validate: func(s string) error {
				if strings.TrimSpace(s) == "" {
					return nil
				}
				return validEmail(l)(s)
			}},
		{Key: "state", Label: Text{"État", "State"}, Choices: states, Value: orAny(q.State)},
		{Key: "kind", Label: Text{"Sorte", "Kind"}, Choices: kinds, Value: orAny(q.Kind)},
		{Key: "since", Label: Text{"Créés depuis le", "Created from"}, Hint: Text{"AAAA-MM-JJ", "YYYY-MM-DD"},
			Value: day(q.Since, t.env.Now().Location()), Validate: func(s string) error { return validDay(l, s) }},
		{Key: "until", Label: Text{"Jusqu'au (inclus)", "Until (included)"}, Hint: Text{"AAAA-MM-JJ", "YYYY-MM-DD"},
			Value: day(q.Until.Add(-time.Nanosecond), t.env.Now().Location()), Validate: func(s string) error { return validDay(l, s) }},
	})
	t.form.SetSize(t.w, t.h)
	t.back, t.mode = t.mode, transfersFilter
}

func (t *Transfers) updateForm(msg tea.Msg) (Screen, tea.Cmd) {
	var cmd tea.Cmd
	t.form, cmd = t.form.Update(msg)
	switch t.form.State() {
	case FormCancelled:
		t.mode = t.back
	case FormSubmitted:
		v := t.form.Values()
		since, until, ok := dayRange(v["since"], v["until"], t.env.Now().Location())
		if !ok {
			t.form.SetError("until", Text{"doit suivre la date de début", "must not be before the start date"}.In(t.env.Lang))
			return t, cmd
		}
		t.query = adminapi.TransferQuery{Query: strings.TrimSpace(v["q"]), User: strings.TrimSpace(v["user"]),
			State: noAny(v["state"]), Kind: noAny(v["kind"]), Since: since, Until: until}
		t.mode = t.back
		return t, tea.Batch(cmd, t.load())
	}
	return t, cmd
}

// stateTexts name the transfers' states for people.
var stateTexts = map[string]Text{
	adminapi.TransferActive:    {"actif", "active"},
	adminapi.TransferWaiting:   {"en attente", "waiting"},
	adminapi.TransferExpired:   {"expiré", "expired"},
	adminapi.TransferRevoked:   {"révoqué", "revoked"},
	adminapi.TransferSuspended: {"suspendu", "suspended"},
	adminapi.TransferUploading: {"en dépôt", "uploading"},
}

func stateText(l Lang, s string) string { return textOf(stateTexts, l, s) }

func stateTone(s string) string {
	switch s {
	case adminapi.TransferActive:
		return "ok"
	case adminapi.TransferWaiting, adminapi.TransferUploading, adminapi.TransferSuspended:
		return "warn"
	case adminapi.TransferRevoked, adminapi.TransferExpired:
		return "muted"
	}
	return ""
}

func (t *Transfers) setRows() {
	l := t.env.Lang
	rows := make([]Row, 0, len(t.page.Transfers))
	for _, info := range t.page.Transfers {
		rows = append(rows, Row{ID: info.ID, Tone: stateTone(info.State), Cells: []string{
			formatTime(info.Created), info.Owner, info.Subject, stateText(l, info.State),
			sizeIn(l, info.Bytes), strconv.Itoa(info.Downloads) + "/" + strconv.Itoa(info.Recipients)}})
	}
	t.table.SetRows(rows)
}

// View draws the body.
func (t *Transfers) View() string {
	l, st := t.env.Lang, t.env.Styles
	switch t.mode {
	case transfersFilter:
		return block(lipgloss.Place(t.w, t.h, lipgloss.Center, lipgloss.Center, t.form.View()), t.w, t.h)
	case transfersConfirm:
		return block(lipgloss.Place(t.w, t.h, lipgloss.Center, lipgloss.Center, t.confirm.View()), t.w, t.h)
	case transfersDetail:
		return block(t.detailView(), t.w, t.h)
	}
	status := Text{"%d transferts sur %d", "%d of %d transfers"}.fmt(l, len(t.page.Transfers), t.page.Total)
	var f []string
	q := t.query
	if q.State != "" {
		f = append(f, stateText(l, q.State))
	}
	if q.User != "" {
		f = append(f, q.User)
	}
	if q.Kind != "" {
		f = append(f, q.Kind)
	}
	if q.Query != "" {
		f = append(f, strconv.Quote(q.Query))
	}
	f = append(f, dayFilters(q.Since, q.Until, t.env.Now().Location())...)
	if len(f) > 0 {
		status += Text{"  · filtre : %s (esc : tout)", "  · filter: %s (esc: all)"}.fmt(l, strings.Join(f, ", "))
	}
	return block(t.table.View()+"\n"+st.Muted.Render(status), t.w, t.h)
}

func (t *Transfers) detailView() string {
	l, st, d := t.env.Lang, t.env.Styles, t.detail
	yes := func(b bool) string { return yesNo(l, b) }
	title := d.Subject
	if title == "" {
		title = d.ID
	}
	limit := Text{"aucune", "none"}.In(l)
	if d.DownloadLimit > 0 {
		limit = strconv.Itoa(d.DownloadLimit)
	}
	lines := []string{
		st.Title.Render(title) + "  " + st.Muted.Render(d.ID),
		Text{"De %s · %s", "By %s · %s"}.fmt(l, d.Owner, stateText(l, d.State)),
		Text{"Créé %s · expire %s", "Created %s · expires %s"}.fmt(l, formatTime(d.Created), formatTime(d.Expires)),
		Text{"Mot de passe %s · code par mail %s · limite de téléchargements %s",
			"Password %s · e-mail code %s · download limit %s"}.fmt(l, yes(d.Password), yes(d.EmailCode), limit),
		Text{"Effacé après téléchargement %s · accusés de téléchargement %s",
			"Delete after download %s · download receipts %s"}.fmt(l, yes(d.DeleteAfter), yes(d.Receipt)),
		"",
	}
	// Files: the name takes what the fixed columns leave; the SHA-256 is cut to fit.
	const sizeW, verdictW = 11, 10
	shaW := min(64, max(t.w-54, 16))
	nameW := max(t.w-sizeW-verdictW-shaW-3, 10)
	row := func(a, b, c, e string) string {
		return fmt.Sprintf("%-*s %*s %-*s %s", nameW, fitStyled(a, nameW), sizeW, fitStyled(b, sizeW), verdictW, fitStyled(c, verdictW), fitStyled(e, shaW))
	}
	lines = append(lines, st.Header.Render(row(Text{"Fichier", "File"}.In(l), Text{"Taille", "Size"}.In(l),
		Text{"Analyse", "Scan"}.In(l), "SHA-256")))
	for _, f := range d.Files {
		lines = append(lines, row(f.Name, sizeIn(l, f.Size), f.Verdict, f.SHA256))
	}
	lines = append(lines, "")
	const openedW, downW, lastW, notifiedW = 7, 7, 16, 13
	mailW := max(t.w-openedW-downW-lastW-notifiedW-5, 10)
	rrow := func(a, b, c, e, n string) string {
		return fmt.Sprintf("%-*s %-*s %*s %-*s %s", mailW, fitStyled(a, mailW), openedW, fitStyled(b, openedW), downW, fitStyled(c, downW),
			lastW, e, n)
	}
	lines = append(lines, st.Header.Render(rrow(Text{"Destinataire", "Recipient"}.In(l), Text{"Ouvert", "Opened"}.In(l),
		Text{"Téléch.", "Downl."}.In(l), Text{"Dernier", "Last"}.In(l), "")))
	for _, r := range d.Recipients {
		notified := ""
		if !r.Notified {
			notified = st.Warn.Render(fitStyled(Text{"non prévenu", "not notified"}.In(l), notifiedW))
		}
		lines = append(lines, rrow(r.Email, yes(r.Opened), strconv.Itoa(r.Downloads), formatTime(r.LastDownload), notified))
	}
	return strings.Join(lines, "\n")
}

// Keys lists the bindings of the current mode.
func (t *Transfers) Keys() []key.Binding {
	l := t.env.Lang
	b := func(k, help string, desc Text) key.Binding { return binding(l, help, desc, k) }
	switch t.mode {
	case transfersFilter:
		return t.form.Keys()
	case transfersConfirm:
		return []key.Binding{b("y", "y", Text{"révoquer", "revoke"}), b("n", "n/esc", Text{"non", "no"})}
	case transfersDetail:
		return []key.Binding{b("r", "r", Text{"révoquer", "revoke"}), b("esc", "esc", Text{"retour", "back"})}
	}
	return append([]key.Binding{
		b("/", "/", Text{"filtrer", "filter"}), b("f", "f", Text{"état suivant", "next state"}),
		b("enter", "enter", Text{"détail", "detail"}), b("r", "r/d", Text{"révoquer", "revoke"}),
	}, tableKeysBut(t.table, "/")...)
}

// Typing is true while the filter form or the confirmation has the focus.
func (t *Transfers) Typing() bool {
	return t.mode == transfersFilter || t.mode == transfersConfirm || t.table.Filtering()
}
