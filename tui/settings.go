package tui

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
)

// SettingsAPI is what the Settings screen calls: a subset of *adminapi.Client.
type SettingsAPI interface {
	Settings(ctx context.Context) ([]adminapi.Setting, error)
	Setting(ctx context.Context, key string) (adminapi.Setting, error)
	SetSetting(ctx context.Context, key, value string) (adminapi.Setting, error)
	ValidateSetting(ctx context.Context, key, value string) (adminapi.Setting, error)
	TestMail(ctx context.Context, req adminapi.MailTestRequest) (adminapi.MailTestResult, error)
	// The mail queue's (mailqueue.go).
	Outbox(ctx context.Context) (adminapi.Outbox, error)
	RetryMail(ctx context.Context, id string) (adminapi.OutboxMail, error)
	DiscardMail(ctx context.Context, id string) error
}

var _ SettingsAPI = (*adminapi.Client)(nil)

// settingGroups are the Settings screen's sections, in their order, with their names; a
// group the console does not know comes last, under its own name.
var settingGroups = []struct {
	key  string
	name Text
}{
	{"general", Text{"Général", "General"}},
	{"mail", Text{"Courriel", "Mail"}},
	{"tls", Text{"TLS", "TLS"}},
	{"branding", Text{"Apparence", "Branding"}},
	{"policies", Text{"Règles", "Policies"}},
	{"quotas", Text{"Quotas", "Quotas"}},
	{"antivirus", Text{"Antivirus", "Antivirus"}},
	{"storage", Text{"Stockage", "Storage"}},
	{"backup", Text{"Sauvegarde", "Backup"}},
	{"limits", Text{"Limites", "Limits"}},
}

// groupRank returns g's place in settingGroups, len(settingGroups) when unknown.
func groupRank(g string) int {
	for i, sg := range settingGroups {
		if sg.key == g {
			return i
		}
	}
	return len(settingGroups)
}

// groupName returns g's name in l.
func groupName(g string, l Lang) string {
	if i := groupRank(g); i < len(settingGroups) {
		return settingGroups[i].name.In(l)
	}
	if g == "" {
		return Text{"Autres", "Other"}.In(l)
	}
	return g
}

// secretMask stands for a secret's value.
const secretMask = "••••••••"

// colorRE is what a "color" setting's value looks like.
var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// The Settings screen's replies.
type (
	settingsLoadedMsg struct {
		settings []adminapi.Setting
		err      error
	}
	// settingCheckedMsg answers ValidateSetting; settingSavedMsg SetSetting.
	settingCheckedMsg struct {
		key, value string
		err        error
	}
	settingSavedMsg struct {
		setting adminapi.Setting
		err     error
	}
	mailTestedMsg struct {
		to     string
		result adminapi.MailTestResult
		err    error
	}
)

// settingsMode is what the Settings screen shows.
type settingsMode int

const (
	settingsList     settingsMode = iota
	settingsEdit                  // one setting's form
	settingsMailTest              // the test mail's form
)

// Settings is screen 5: every setting, grouped, with its description in the console's
// language; a value is checked by the node (ValidateSetting) before it is saved.
type Settings struct {
	api      SettingsAPI
	env      Env
	table    Table
	form     Form
	mode     settingsMode
	width    int
	height   int
	settings []adminapi.Setting // in the table's order
	editing  adminapi.Setting   // the setting of the edit form
	pending  bool               // the form was submitted and its call is in flight
	failed   bool               // the list could not be loaded: the next tick asks again
	mailTest *adminapi.MailTestResult
	queue    *mailQueue // the mail queue, while it is shown (m)
}

var _ Screen = (*Settings)(nil)

// NewSettings returns the Settings screen over api.
func NewSettings(api SettingsAPI, env Env) Screen {
	s := &Settings{api: api, env: env}
	s.table = NewTable(env, []Column{
		{Title: Text{"Groupe", "Group"}, Width: 10},
		{Title: Text{"Réglage", "Setting"}, Width: 20, Grow: true},
		{Title: Text{"Valeur", "Value"}, Width: 16, Grow: true},
		{Title: Text{"Défaut", "Default"}, Width: 12},
		{Title: Text{"Portée", "Scope"}, Width: 7},
	})
	return s
}

// Init loads the settings.
func (s *Settings) Init() tea.Cmd { return s.load() }

func (s *Settings) load() tea.Cmd {
	api := s.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		list, err := api.Settings(ctx)
		return settingsLoadedMsg{settings: list, err: err}
	}
}

// Update handles a message.
func (s *Settings) Update(msg tea.Msg) (Screen, tea.Cmd) {
	l := s.env.Lang
	if cmd, done := s.updateQueue(msg); done {
		return s, cmd
	}
	switch msg := msg.(type) {
	case BodySizeMsg:
		s.width, s.height = msg.Width, msg.Height
		s.resize()
		return s, nil
	case LangMsg:
		s.env.Lang = msg.Lang
		s.table.SetLang(msg.Lang)
		s.setRows()
		return s, nil
	case TickMsg:
		if s.failed {
			s.failed = false
			return s, s.load()
		}
		return s, nil
	case settingsLoadedMsg:
		s.failed = msg.err != nil
		if msg.err != nil {
			return s, callFailed(Text{"Lecture des réglages", "Reading the settings"}.In(l), msg.err)
		}
		s.settings = sortSettings(msg.settings)
		s.setRows()
		return s, nil
	case settingCheckedMsg:
		return s, s.onChecked(msg)
	case settingSavedMsg:
		s.pending = false
		if msg.err != nil {
			s.form.SetError("value", errorText(msg.err))
			return s, nil
		}
		s.mode = settingsList
		s.replace(msg.setting)
		return s, toastNow(fmt.Sprintf(Text{"Réglage %s enregistré", "Setting %s saved"}.In(l), msg.setting.Key), false)
	case mailTestedMsg:
		s.pending = false
		if msg.err != nil {
			s.mode = settingsList
			return s, callFailed(Text{"Courriel de test", "Test mail"}.In(l), msg.err)
		}
		r := msg.result
		s.mailTest, s.mode = &r, settingsList
		if !r.OK {
			return s, toastNow(fmt.Sprintf(Text{"Courriel de test vers %s refusé : %s", "Test mail to %s failed: %s"}.In(l), msg.to, r.Error), true)
		}
		return s, toastNow(fmt.Sprintf(Text{"Courriel de test envoyé à %s", "Test mail sent to %s"}.In(l), msg.to), false)
	case tea.KeyPressMsg:
		return s, s.onKey(msg)
	}
	if s.mode != settingsList {
		var cmd tea.Cmd
		s.form, cmd = s.form.Update(msg)
		return s, cmd
	}
	return s, nil
}

// sortSettings orders list by group (settingGroups' order, unknown groups last, by name),
// then by key.
func sortSettings(list []adminapi.Setting) []adminapi.Setting {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b adminapi.Setting) int {
		if ra, rb := groupRank(a.Group), groupRank(b.Group); ra != rb {
			return ra - rb
		}
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// replace puts a saved setting in place of its old value.
func (s *Settings) replace(st adminapi.Setting) {
	for i := range s.settings {
		if s.settings[i].Key == st.Key {
			// The node's answer may lack the metadata the list had.
			old := s.settings[i]
			if st.Group == "" {
				st.Group, st.Kind, st.Choices = old.Group, old.Kind, old.Choices
				st.Description, st.DescriptionFR = old.Description, old.DescriptionFR
			}
			s.settings[i] = st
		}
	}
	s.setRows()
}

// onChecked saves a value the node accepted, or shows its refusal on the field.
func (s *Settings) onChecked(msg settingCheckedMsg) tea.Cmd {
	if s.mode != settingsEdit || msg.key != s.editing.Key {
		return nil
	}
	if msg.err != nil {
		s.pending = false
		s.form.SetError("value", errorText(msg.err))
		return nil
	}
	api := s.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		st, err := api.SetSetting(ctx, msg.key, msg.value)
		return settingSavedMsg{setting: st, err: err}
	}
}

func (s *Settings) onKey(msg tea.KeyPressMsg) tea.Cmd {
	if s.mode != settingsList {
		if s.pending {
			return nil // the node is checking the value
		}
		var cmd tea.Cmd
		s.form, cmd = s.form.Update(msg)
		switch s.form.State() {
		case FormCancelled:
			s.mode = settingsList
		case FormSubmitted:
			return tea.Batch(cmd, s.submit())
		}
		return cmd
	}
	if s.table.Filtering() {
		var cmd tea.Cmd
		s.table, cmd = s.table.Update(msg)
		return cmd
	}
	switch msg.String() {
	case "enter", "e":
		if st, ok := s.selected(); ok {
			s.openEdit(st)
		}
		return nil
	case "t":
		if st, ok := s.selected(); ok && st.Group == "mail" {
			s.openMailTest()
		}
		return nil
	case "r":
		return s.load()
	case "m":
		return s.openQueue()
	case "esc":
		s.mailTest = nil
		return nil
	}
	var cmd tea.Cmd
	s.table, cmd = s.table.Update(msg)
	return cmd
}

// selected returns the setting under the cursor.
func (s *Settings) selected() (adminapi.Setting, bool) {
	row, ok := s.table.Selected()
	if !ok {
		return adminapi.Setting{}, false
	}
	for _, st := range s.settings {
		if st.Key == row.ID {
			return st, true
		}
	}
	return adminapi.Setting{}, false
}

// openEdit opens the form editing st: a choice cycles its Choices, a secret is typed masked
// and starts empty (left empty, it is kept).
func (s *Settings) openEdit(st adminapi.Setting) {
	f := Field{
		Key:      "value",
		Label:    Text{st.Key, st.Key},
		Hint:     Text{"défaut : " + st.Default, "default: " + st.Default},
		Value:    st.Value,
		Validate: s.localCheck(st),
	}
	switch {
	case st.Kind == "choice" && len(st.Choices) > 0:
		f.Choices = st.Choices
		if !slices.Contains(st.Choices, f.Value) {
			f.Value = st.Choices[0]
		}
	case st.Secret || st.Kind == "secret":
		f.Secret, f.Value = true, ""
		f.Hint = Text{"vide : inchangé", "empty: unchanged"}
	}
	s.editing, s.mode, s.pending = st, settingsEdit, false
	s.form = NewForm(s.env, Text{"Modifier " + st.Key, "Edit " + st.Key}, []Field{f})
	s.resize()
}

// localCheck is the edit form's inline check: only what needs nothing remote (the node's
// own check runs on submit), and an empty value is always the node's to judge.
func (s *Settings) localCheck(st adminapi.Setting) func(string) error {
	l := s.env.Lang
	switch st.Kind {
	case "color":
		return func(v string) error {
			if v != "" && !colorRE.MatchString(v) {
				return errors.New(Text{"couleur attendue : #rrvvbb", "expected a colour: #rrggbb"}.In(l))
			}
			return nil
		}
	case "int":
		return func(v string) error {
			if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); v != "" && err != nil {
				return errors.New(Text{"nombre entier attendu", "expected a whole number"}.In(l))
			}
			return nil
		}
	case "email":
		return func(v string) error {
			if _, err := mail.ParseAddress(v); v != "" && err != nil {
				return errors.New(Text{"adresse de courriel attendue", "expected an email address"}.In(l))
			}
			return nil
		}
	}
	return nil
}

func (s *Settings) openMailTest() {
	l := s.env.Lang
	s.form = NewForm(s.env, Text{"Envoyer un courriel de test", "Send a test mail"}, []Field{{
		Key:   "to",
		Label: Text{"À", "To"},
		Hint:  Text{"par le relais configuré, tout de suite", "through the configured relay, now"},
		Validate: func(v string) error {
			if a, err := mail.ParseAddress(v); err != nil || a.Address != strings.TrimSpace(v) {
				return errors.New(Text{"adresse de courriel attendue", "expected an email address"}.In(l))
			}
			return nil
		},
	}})
	s.mode, s.pending = settingsMailTest, false
	s.resize()
}

// submit sends the submitted form: an edit is first checked by the node, then saved.
func (s *Settings) submit() tea.Cmd {
	v := s.form.Values()
	api := s.api
	switch s.mode {
	case settingsEdit:
		st, value := s.editing, v["value"]
		if (st.Secret || st.Kind == "secret") && value == "" {
			s.mode = settingsList
			return toastNow(fmt.Sprintf(Text{"Réglage %s inchangé", "Setting %s unchanged"}.In(s.env.Lang), st.Key), false)
		}
		s.pending = true
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			_, err := api.ValidateSetting(ctx, st.Key, value)
			return settingCheckedMsg{key: st.Key, value: value, err: err}
		}
	case settingsMailTest:
		to, lang := strings.TrimSpace(v["to"]), "fr"
		if s.env.Lang == LangEN {
			lang = "en"
		}
		s.pending = true
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			r, err := api.TestMail(ctx, adminapi.MailTestRequest{To: to, Lang: lang})
			return mailTestedMsg{to: to, result: r, err: err}
		}
	}
	return nil
}

// maskedValue returns a setting's value as the list shows it: a secret masked.
func maskedValue(st adminapi.Setting, v string) string {
	if (st.Secret || st.Kind == "secret") && v != "" {
		return secretMask
	}
	return v
}

// setRows rebuilds the table's rows, the group named on the first row of each.
func (s *Settings) setRows() {
	rows := make([]Row, 0, len(s.settings))
	prev := "\x00"
	for _, st := range s.settings {
		group := ""
		if st.Group != prev {
			group, prev = groupName(st.Group, s.env.Lang), st.Group
		}
		tone := ""
		if !st.Set {
			tone = "muted"
		}
		rows = append(rows, Row{
			ID:    st.Key,
			Cells: []string{group, st.Key, maskedValue(st, st.Value), maskedValue(st, st.Default), st.Scope},
			Tone:  tone,
		})
	}
	s.table.SetRows(rows)
}

// infoHeight is the lines under the table that describe the selected setting.
const infoHeight = 3

func (s *Settings) resize() {
	s.table.SetSize(s.width, max(1, s.height-infoHeight))
	if s.mode != settingsList {
		w := min(s.width, 72)
		if s.mode == settingsEdit && s.editing.Kind == "color" {
			w = min(s.width-swatchWidth, 72)
		}
		s.form.SetSize(w, s.height)
	}
}

// swatchWidth is the cells the colour preview takes beside the form.
const swatchWidth = 12

// View draws the body.
func (s *Settings) View() string {
	if s.queue != nil {
		return s.queue.View()
	}
	if s.mode != settingsList {
		body := s.form.View()
		if s.mode == settingsEdit {
			if s.editing.Kind == "color" {
				body = lipgloss.JoinHorizontal(lipgloss.Center, body, " ", s.swatch(s.form.Values()["value"]))
			}
			desc := lipgloss.NewStyle().Width(min(s.width, 72)).Render(s.description(s.editing))
			body = lipgloss.JoinVertical(lipgloss.Left, body, s.env.Styles.Muted.Render(desc))
		}
		if s.pending {
			body += "\n" + s.env.Styles.Muted.Render(Text{"vérification par le nœud…", "the node is checking…"}.In(s.env.Lang))
		}
		return lipgloss.Place(s.width, s.height, lipgloss.Center, lipgloss.Center, body)
	}
	return clipBody(s.table.View()+"\n"+s.info(), s.width, s.height)
}

// swatch previews a typed colour: a block of it with its hex, or nothing to preview.
func (s *Settings) swatch(v string) string {
	if !colorRE.MatchString(v) {
		return s.env.Styles.Muted.Render(Text{"(aperçu)", "(preview)"}.In(s.env.Lang))
	}
	block := lipgloss.NewStyle().Background(lipgloss.Color(v)).Render(strings.Repeat(" ", 8))
	return block + "\n" + block + "\n" + strings.ToLower(v)
}

// description is set's description in the console's language.
func (s *Settings) description(set adminapi.Setting) string {
	if s.env.Lang == LangFR && set.DescriptionFR != "" {
		return set.DescriptionFR
	}
	return set.Description
}

// info describes the selected setting: its description, kind and choices, and the last
// test mail's result.
func (s *Settings) info() string {
	l, st := s.env.Lang, s.env.Styles
	var lines []string
	if set, ok := s.selected(); ok {
		lines = append(lines, s.description(set))
		meta := []string{}
		if set.Kind != "" {
			meta = append(meta, Text{"type ", "kind "}.In(l)+set.Kind)
		}
		if len(set.Choices) > 0 {
			meta = append(meta, Text{"choix ", "choices "}.In(l)+strings.Join(set.Choices, " | "))
		}
		if set.Kind == "color" && colorRE.MatchString(set.Value) {
			meta = append(meta, lipgloss.NewStyle().Background(lipgloss.Color(set.Value)).Render("  ")+" "+set.Value)
		}
		if set.Group == "mail" {
			meta = append(meta, Text{"t : courriel de test", "t: send a test mail"}.In(l))
		}
		lines = append(lines, st.Muted.Render(strings.Join(meta, " · ")))
	}
	if r := s.mailTest; r != nil {
		if r.OK {
			lines = append(lines, st.OK.Render(Text{"✓ courriel de test : ", "✓ test mail: "}.In(l)+r.Detail))
		} else {
			lines = append(lines, st.Error.Render(Text{"✗ courriel de test : ", "✗ test mail: "}.In(l)+r.Error))
		}
	}
	return strings.Join(lines, "\n")
}

// Keys lists the bindings in the current state.
func (s *Settings) Keys() []key.Binding {
	l := s.env.Lang
	if s.queue != nil {
		return s.queue.Keys()
	}
	if s.mode != settingsList {
		return s.form.Keys()
	}
	keys := []key.Binding{
		binding(l, "enter/e", Text{"modifier", "edit"}, "enter", "e"),
		binding(l, "r", Text{"recharger", "reload"}, "r"),
		binding(l, "m", Text{"file des courriels", "mail queue"}, "m"),
	}
	if st, ok := s.selected(); ok && st.Group == "mail" {
		keys = append(keys, binding(l, "t", Text{"courriel de test", "send a test mail"}, "t"))
	}
	return append(keys, s.table.Keys()...)
}

// Typing is true while a form has the focus.
func (s *Settings) Typing() bool {
	if s.queue != nil {
		return s.queue.typing()
	}
	return s.mode != settingsList || s.table.Filtering()
}
