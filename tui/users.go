package tui

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"valise/adminapi"
)

// UsersAPI is what the Users screen calls: a subset of *adminapi.Client's methods.
type UsersAPI interface {
	ListUsers(ctx context.Context, q adminapi.UserQuery) (adminapi.UserPage, error)
	GetUser(ctx context.Context, email string) (adminapi.UserInfo, error)
	AddUser(ctx context.Context, req adminapi.UserAddRequest) (adminapi.UserAddResponse, error)
	EditUser(ctx context.Context, email string, e adminapi.UserEdit) (adminapi.UserInfo, error)
	SetUserDisabled(ctx context.Context, email string, disabled bool) (adminapi.UserInfo, error)
	DeleteUser(ctx context.Context, email string, req adminapi.UserDeleteRequest) (adminapi.UserDeleteResult, error)
	ResetPassword(ctx context.Context, email string) (adminapi.UserAddResponse, error)
	ImportUsers(ctx context.Context, req adminapi.UserImportRequest) (adminapi.UserImportReport, error)
}

var _ UsersAPI = (*adminapi.Client)(nil)

// usersPageSize is how many users one page of the list holds.
const usersPageSize = 100

// anyChoice is the filter forms' choice meaning "no filter".
const anyChoice = "*"

// The users' screen modes: what has the keys.
type usersMode int

const (
	usersList    usersMode = iota
	usersDetail            // one user's detail
	usersForm              // a form (new, edit, search, import path, passwords path)
	usersConfirm           // a confirmation dialog
	usersShown             // a dialog showing a password once
	usersPreview           // an import's dry-run preview
	usersReport            // an applied import's report
)

// The forms and dialogs of the Users screen.
type usersFormKind int

const (
	formNewUser usersFormKind = iota
	formEditUser
	formSearchUsers
	formImportPath
	formPasswordsPath
)

type usersConfirmKind int

const (
	confirmDelete usersConfirmKind = iota
	confirmReset
	confirmImport
	confirmDropPasswords
)

// Users is screen 2: the users, their quotas and usage, and CSV imports.
type Users struct {
	api   UsersAPI
	env   Env
	w, h  int
	table Table
	mode  usersMode
	back  usersMode // where esc in a form or dialog returns

	query  adminapi.UserQuery // the list's search and page
	page   adminapi.UserPage
	seq    int  // the last list load asked; older answers are dropped
	stale  bool // the last list load failed: the next tick tries again
	detail adminapi.UserInfo

	form     Form
	formKind usersFormKind
	busy     bool // a submitted form's call is under way

	confirm     Confirm
	confirmKind usersConfirmKind
	target      string // the e-mail address a confirmation acts on
	keepSends   bool   // the delete confirmation's choice

	shownEmail, shownPassword string // the password dialog

	importCSV    string
	importUpdate bool
	report       adminapi.UserImportReport
	preview      Table
	savedTo      string // where the import's passwords were written, "" before
}

// NewUsers returns the Users screen over api.
func NewUsers(api UsersAPI, env Env) Screen {
	u := &Users{api: api, env: env, query: adminapi.UserQuery{Limit: usersPageSize}}
	u.table = NewTable(env, []Column{
		{Title: Text{"Adresse", "E-mail"}, Width: 20, Grow: true},
		{Title: Text{"Nom", "Name"}, Width: 16, Grow: true},
		{Title: Text{"Rôle", "Role"}, Width: 12},
		{Title: Text{"Langue", "Lang"}, Width: 6},
		{Title: Text{"État", "State"}, Width: 10},
		{Title: Text{"Utilisé", "Used"}, Width: 10},
	})
	u.preview = NewTable(env, []Column{
		{Title: Text{"Ligne", "Line"}, Width: 5},
		{Title: Text{"Adresse", "E-mail"}, Width: 20, Grow: true},
		{Title: Text{"Rôle", "Role"}, Width: 12},
		{Title: Text{"Langue", "Lang"}, Width: 6},
		{Title: Text{"Quota", "Quota"}, Width: 8},
		{Title: Text{"Résultat", "Outcome"}, Width: 20, Grow: true},
	})
	return u
}

// The Users screen's own replies.
type (
	usersLoadedMsg struct {
		seq  int
		page adminapi.UserPage
	}
	// usersFailedMsg is a list load that failed: the App shows why, the next tick retries.
	usersFailedMsg struct {
		seq int
		err error
	}
	userLoadedMsg  struct{ user adminapi.UserInfo }
	userCreatedMsg struct{ resp adminapi.UserAddResponse }
	userChangedMsg struct {
		user adminapi.UserInfo
		done Text // the toast, with %s for the e-mail address
	}
	userDeletedMsg  struct{ res adminapi.UserDeleteResult }
	passwordNewMsg  struct{ resp adminapi.UserAddResponse }
	importDryRunMsg struct {
		csv    string
		update bool
		report adminapi.UserImportReport
	}
	importAppliedMsg  struct{ report adminapi.UserImportReport }
	passwordsSavedMsg struct{ path string }
	// formFailedMsg is the node's (or the disk's) refusal of a submitted form, shown on it.
	formFailedMsg struct {
		field string
		err   error
	}
)

// Init loads the first page.
func (u *Users) Init() tea.Cmd { return u.load() }

func (u *Users) load() tea.Cmd {
	u.seq++
	seq, q, api := u.seq, u.query, u.api
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		p, err := api.ListUsers(ctx, q)
		if err != nil {
			return usersFailedMsg{seq: seq, err: err}
		}
		return usersLoadedMsg{seq: seq, page: p}
	}
}

// callCmd runs f in a tea.Cmd with a bounded context; a failure becomes an ErrMsg.
func callCmd(f func(ctx context.Context) (tea.Msg, error)) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		msg, err := f(ctx)
		if err != nil {
			return ErrMsg{Err: err}
		}
		return msg
	}
}

// submitCmd is callCmd for a form's submission: a failure goes back to the form, which can be
// edited and submitted again.
func submitCmd(field string, f func(ctx context.Context) (tea.Msg, error)) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		msg, err := f(ctx)
		if err != nil {
			return formFailedMsg{field: field, err: err}
		}
		return msg
	}
}

// Update handles a message.
func (u *Users) Update(msg tea.Msg) (Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case BodySizeMsg:
		u.w, u.h = msg.Width, msg.Height
		u.resize()
		return u, nil
	case LangMsg:
		u.env.Lang = msg.Lang
		u.table.SetLang(msg.Lang)
		u.preview.SetLang(msg.Lang)
		u.setRows()
		u.setPreviewRows()
		return u, nil
	case usersLoadedMsg:
		if msg.seq == u.seq {
			u.page, u.stale = msg.page, false
			u.setRows()
		}
		return u, nil
	case usersFailedMsg:
		u.stale = u.stale || msg.seq == u.seq
		err := msg.err
		return u, func() tea.Msg { return ErrMsg{Err: err} }
	case TickMsg:
		if u.stale {
			u.stale = false
			return u, u.load()
		}
		return u, nil
	case userLoadedMsg:
		u.detail = msg.user
		return u, nil
	case userCreatedMsg:
		u.closeForm()
		u.showPassword(msg.resp.Email, msg.resp.Password)
		return u, tea.Batch(u.load(), toastCmd(Text{"Utilisateur %s créé", "User %s created"}.fmt(u.env.Lang, msg.resp.Email)))
	case userChangedMsg:
		if u.mode == usersForm {
			u.closeForm()
		}
		if u.detail.Email == msg.user.Email {
			u.detail = msg.user
		}
		return u, tea.Batch(u.load(), toastCmd(msg.done.fmt(u.env.Lang, msg.user.Email)))
	case userDeletedMsg:
		u.mode = usersList
		r := msg.res
		return u, tea.Batch(u.load(), toastCmd(Text{
			"Utilisateur %s supprimé : %d envois révoqués, %d gardés, %s libérés",
			"User %s deleted: %d sends revoked, %d kept, %s freed"}.fmt(u.env.Lang,
			r.Email, r.SendsRevoked, r.SendsKept, sizeIn(u.env.Lang, r.BytesFreed))))
	case passwordNewMsg:
		u.showPassword(msg.resp.Email, msg.resp.Password)
		return u, nil
	case importDryRunMsg:
		u.closeForm()
		u.importCSV, u.importUpdate, u.report = msg.csv, msg.update, msg.report
		u.savedTo = ""
		u.mode = usersPreview
		u.setPreviewRows()
		return u, nil
	case importAppliedMsg:
		u.report = msg.report
		u.importCSV = ""
		u.mode = usersReport
		u.setPreviewRows()
		return u, u.load()
	case passwordsSavedMsg:
		u.closeForm()
		u.savedTo = msg.path
		return u, toastCmd(Text{"Mots de passe enregistrés dans %s", "Passwords saved to %s"}.fmt(u.env.Lang, msg.path))
	case formFailedMsg:
		u.busy = false
		if u.mode == usersForm {
			u.form.SetError(msg.field, errorText(msg.err))
		}
		return u, failedCmd(msg.err)
	case tea.KeyPressMsg:
		return u.key(msg)
	}
	if u.mode == usersForm {
		return u.updateForm(msg)
	}
	return u, nil
}

// failedCmd passes a form's failure to the App when it is not the node's refusal of a value
// (a lost connection, a disk error), so that the connection line shows it.
func failedCmd(err error) tea.Cmd {
	var apiErr *adminapi.Error
	if errors.As(err, &apiErr) {
		return nil
	}
	return func() tea.Msg { return ErrMsg{Err: err} }
}

func (u *Users) resize() {
	u.table.SetSize(u.w, max(u.h-1, 1))
	u.preview.SetSize(u.w, max(u.h-3, 1))
	if u.mode == usersForm {
		u.form.SetSize(u.w, u.h)
	}
}

func (u *Users) key(msg tea.KeyPressMsg) (Screen, tea.Cmd) {
	switch u.mode {
	case usersForm:
		return u.updateForm(msg)
	case usersConfirm:
		return u.updateConfirm(msg)
	case usersShown:
		switch msg.String() {
		case "enter", "esc":
			u.shownPassword = ""
			u.mode = u.back
		}
		return u, nil
	case usersPreview:
		switch msg.String() {
		case "esc":
			u.importCSV = ""
			u.mode = usersList
			return u, nil
		case "enter", "a":
			if n := u.report.Created + u.report.Updated; n > 0 {
				u.openConfirm(confirmImport, "", fmt.Sprintf(Text{
					"Importer : %d créés, %d modifiés, %d lignes refusées ?",
					"Import: %d created, %d updated, %d lines refused?"}.In(u.env.Lang),
					u.report.Created, u.report.Updated, len(u.report.Failed)), false)
			}
			return u, nil
		}
		var cmd tea.Cmd
		u.preview, cmd = u.preview.Update(msg)
		return u, cmd
	case usersReport:
		switch msg.String() {
		case "w":
			if len(u.report.Passwords) > 0 {
				u.openForm(formPasswordsPath)
			}
			return u, nil
		case "esc", "enter":
			if len(u.report.Passwords) > 0 && u.savedTo == "" {
				u.openConfirm(confirmDropPasswords, "", Text{
					"Fermer sans enregistrer les mots de passe ? Ils ne seront plus affichés.",
					"Close without saving the passwords? They will not be shown again."}.In(u.env.Lang), true)
				return u, nil
			}
			u.report = adminapi.UserImportReport{}
			u.mode = usersList
			return u, nil
		}
		var cmd tea.Cmd
		u.preview, cmd = u.preview.Update(msg)
		return u, cmd
	case usersDetail:
		switch msg.String() {
		case "esc":
			u.mode = usersList
			return u, nil
		case "e", "x", "d", "p":
			return u.act(msg.String(), u.detail)
		}
		return u, nil
	}
	// The list.
	if u.table.Filtering() {
		var cmd tea.Cmd
		u.table, cmd = u.table.Update(msg)
		return u, cmd
	}
	switch msg.String() {
	case "/":
		u.openForm(formSearchUsers)
		return u, nil
	case "n":
		u.openForm(formNewUser)
		return u, nil
	case "i":
		u.openForm(formImportPath)
		return u, nil
	case "]":
		if u.query.Offset+usersPageSize < u.page.Total {
			u.query.Offset += usersPageSize
			return u, u.load()
		}
		return u, nil
	case "[":
		if u.query.Offset > 0 {
			u.query.Offset = max(u.query.Offset-usersPageSize, 0)
			return u, u.load()
		}
		return u, nil
	case "esc":
		if u.query.Query != "" || u.query.Role != "" || u.query.State != "" {
			u.query = adminapi.UserQuery{Limit: usersPageSize}
			return u, u.load()
		}
		return u, nil
	case "enter", "e", "x", "d", "p":
		if user, ok := u.selected(); ok {
			if msg.String() == "enter" {
				u.detail = user
				u.mode = usersDetail
				api, email := u.api, user.Email
				return u, callCmd(func(ctx context.Context) (tea.Msg, error) {
					got, err := api.GetUser(ctx, email)
					return userLoadedMsg{got}, err
				})
			}
			return u.act(msg.String(), user)
		}
		return u, nil
	}
	var cmd tea.Cmd
	u.table, cmd = u.table.Update(msg)
	return u, cmd
}

func (u *Users) selected() (adminapi.UserInfo, bool) {
	return selectedOf(u.table, u.page.Users, func(user adminapi.UserInfo) string { return user.Email })
}

// selectedOf returns the item of items under t's cursor, id naming each as its Row's ID.
func selectedOf[T any](t Table, items []T, id func(T) string) (T, bool) {
	var zero T
	row, ok := t.Selected()
	if !ok {
		return zero, false
	}
	for _, it := range items {
		if id(it) == row.ID {
			return it, true
		}
	}
	return zero, false
}

// act starts what key does to user, from the list or the detail.
func (u *Users) act(k string, user adminapi.UserInfo) (Screen, tea.Cmd) {
	l := u.env.Lang
	switch k {
	case "e":
		u.detail = user
		u.openForm(formEditUser)
	case "x":
		api, email, disable := u.api, user.Email, !user.Disabled
		return u, callCmd(func(ctx context.Context) (tea.Msg, error) {
			got, err := api.SetUserDisabled(ctx, email, disable)
			done := Text{"Utilisateur %s réactivé", "User %s enabled"}
			if disable {
				done = Text{"Utilisateur %s désactivé : ses sessions sont closes", "User %s disabled: their sessions are closed"}
			}
			return userChangedMsg{got, done}, err
		})
	case "d":
		u.keepSends = false
		u.openConfirm(confirmDelete, user.Email, u.deleteQuestion(user.Email), true)
	case "p":
		u.openConfirm(confirmReset, user.Email, fmt.Sprintf(Text{
			"Donner un nouveau mot de passe à %s ? Ses sessions et jetons cesseront de fonctionner.",
			"Give %s a new password? Their sessions and tokens will stop working."}.In(l), user.Email), true)
	}
	return u, nil
}

func (u *Users) deleteQuestion(email string) string {
	if u.keepSends {
		return fmt.Sprintf(Text{
			"Supprimer %s ? Ses envois restent valables jusqu'à leur expiration. (k : les révoquer)",
			"Delete %s? Their sends keep working until they expire. (k: revoke them)"}.In(u.env.Lang), email)
	}
	return fmt.Sprintf(Text{
		"Supprimer %s ? Ses envois seront révoqués et ses fichiers effacés. (k : garder les envois)",
		"Delete %s? Their sends will be revoked and their files deleted. (k: keep the sends)"}.In(u.env.Lang), email)
}

func (u *Users) openConfirm(kind usersConfirmKind, target, question string, danger bool) {
	if u.mode != usersConfirm {
		u.back = u.mode
	}
	u.confirmKind, u.target = kind, target
	u.confirm = NewConfirm(u.env, question, danger)
	u.mode = usersConfirm
}

func (u *Users) updateConfirm(msg tea.KeyPressMsg) (Screen, tea.Cmd) {
	if u.confirmKind == confirmDelete && msg.String() == "k" {
		u.keepSends = !u.keepSends
		u.confirm = NewConfirm(u.env, u.deleteQuestion(u.target), true)
		return u, nil
	}
	var cmd tea.Cmd
	u.confirm, cmd = u.confirm.Update(msg)
	switch u.confirm.State() {
	case FormCancelled:
		u.mode = u.back
		return u, cmd
	case FormSubmitted:
	default:
		return u, cmd
	}
	u.mode = u.back
	api, email := u.api, u.target
	switch u.confirmKind {
	case confirmDelete:
		req := adminapi.UserDeleteRequest{KeepSends: u.keepSends}
		return u, callCmd(func(ctx context.Context) (tea.Msg, error) {
			res, err := api.DeleteUser(ctx, email, req)
			return userDeletedMsg{res}, err
		})
	case confirmReset:
		return u, callCmd(func(ctx context.Context) (tea.Msg, error) {
			resp, err := api.ResetPassword(ctx, email)
			return passwordNewMsg{resp}, err
		})
	case confirmImport:
		req := adminapi.UserImportRequest{CSV: u.importCSV, Update: u.importUpdate}
		return u, callCmd(func(ctx context.Context) (tea.Msg, error) {
			rep, err := api.ImportUsers(ctx, req)
			return importAppliedMsg{rep}, err
		})
	case confirmDropPasswords:
		u.report = adminapi.UserImportReport{}
		u.mode = usersList
	}
	return u, cmd
}

func (u *Users) showPassword(email, password string) {
	if u.mode != usersShown {
		u.back = u.mode
	}
	u.shownEmail, u.shownPassword = email, password
	u.mode = usersShown
}

var (
	roleChoices = []string{"user", "manager", "supervisor"}
	langChoices = []string{"fr", "en"}
)

func (u *Users) openForm(kind usersFormKind) {
	l := u.env.Lang
	var title Text
	var fields []Field
	switch kind {
	case formNewUser:
		title = Text{"Nouvel utilisateur", "New user"}
		fields = []Field{
			{Key: "email", Label: Text{"Adresse", "E-mail"}, Validate: validEmail(l)},
			{Key: "name", Label: Text{"Nom", "Name"}, Hint: Text{"facultatif", "optional"}, Validate: validName(l)},
			{Key: "role", Label: Text{"Rôle", "Role"}, Choices: roleChoices, Value: "user"},
			{Key: "lang", Label: Text{"Langue", "Language"}, Choices: langChoices, Value: langChoices[l]},
		}
	case formEditUser:
		d := u.detail
		title = Text{"Modifier " + d.Email, "Edit " + d.Email}
		fields = []Field{
			{Key: "name", Label: Text{"Nom", "Name"}, Value: d.Name, Validate: validName(l)},
			{Key: "lang", Label: Text{"Langue", "Language"}, Choices: langChoices, Value: d.Lang},
			{Key: "role", Label: Text{"Rôle", "Role"}, Choices: roleChoices, Value: d.Role},
			{Key: "quota", Label: Text{"Quota", "Quota"}, Value: quotaText(d.QuotaBytes),
				Hint:     Text{"500M, 10G, default (réglage), none (aucun)", "500M, 10G, default (the setting), none"},
				Validate: func(s string) error { _, err := parseQuota(l, s); return err }},
		}
	case formSearchUsers:
		title = Text{"Chercher", "Search"}
		q := u.query
		fields = []Field{
			{Key: "q", Label: Text{"Adresse ou nom", "E-mail or name"}, Value: q.Query},
			{Key: "role", Label: Text{"Rôle", "Role"}, Choices: append([]string{anyChoice}, roleChoices...), Value: orAny(q.Role)},
			{Key: "state", Label: Text{"État", "State"}, Choices: []string{anyChoice, "active", "disabled"}, Value: orAny(q.State)},
		}
	case formImportPath:
		title = Text{"Importer des utilisateurs (CSV)", "Import users (CSV)"}
		fields = []Field{
			{Key: "path", Label: Text{"Fichier", "File"},
				Hint:     Text{"colonnes : email, name, role, lang, quota", "columns: email, name, role, lang, quota"},
				Validate: validImportPath(l)},
			{Key: "update", Label: Text{"Modifier les existants", "Update existing users"}, Choices: []string{"no", "yes"}, Value: "no"},
		}
	case formPasswordsPath:
		title = Text{"Enregistrer les mots de passe", "Save the passwords"}
		fields = []Field{
			{Key: "path", Label: Text{"Fichier", "File"}, Hint: Text{"créé en mode 0600", "created with mode 0600"},
				Validate: validNewFilePath(l)},
		}
	}
	if u.mode != usersForm {
		u.back = u.mode
	}
	u.formKind = kind
	u.form = NewForm(u.env, title, fields)
	u.form.SetSize(u.w, u.h)
	u.busy = false
	u.mode = usersForm
}

func orAny(s string) string {
	if s == "" {
		return anyChoice
	}
	return s
}

func noAny(s string) string {
	if s == anyChoice {
		return ""
	}
	return s
}

func (u *Users) closeForm() {
	u.busy = false
	u.mode = u.back
	if u.mode == usersForm || u.mode == usersConfirm || u.mode == usersShown {
		u.mode = usersList
	}
}

func (u *Users) updateForm(msg tea.Msg) (Screen, tea.Cmd) {
	if u.busy {
		return u, nil // the submitted values are with the node
	}
	var cmd tea.Cmd
	u.form, cmd = u.form.Update(msg)
	switch u.form.State() {
	case FormCancelled:
		u.closeForm()
		return u, cmd
	case FormSubmitted:
		u.busy = true
		return u, tea.Batch(cmd, u.submit(u.form.Values()))
	}
	return u, cmd
}

// submit sends a valid form's values; the form stays up until the node answers.
func (u *Users) submit(v map[string]string) tea.Cmd {
	api, l := u.api, u.env.Lang
	switch u.formKind {
	case formNewUser:
		req := adminapi.UserAddRequest{Email: strings.TrimSpace(v["email"]), Name: strings.TrimSpace(v["name"]),
			Role: v["role"], Lang: v["lang"]}
		return submitCmd("email", func(ctx context.Context) (tea.Msg, error) {
			resp, err := api.AddUser(ctx, req)
			return userCreatedMsg{resp}, err
		})
	case formEditUser:
		e, email := editOf(u.detail, v), u.detail.Email
		return submitCmd("", func(ctx context.Context) (tea.Msg, error) {
			got, err := api.EditUser(ctx, email, e)
			return userChangedMsg{got, Text{"Utilisateur %s modifié", "User %s changed"}}, err
		})
	case formSearchUsers:
		u.query = adminapi.UserQuery{Query: strings.TrimSpace(v["q"]), Role: noAny(v["role"]),
			State: noAny(v["state"]), Limit: usersPageSize}
		u.closeForm()
		return u.load()
	case formImportPath:
		path, update := v["path"], v["update"] == "yes"
		return func() tea.Msg {
			data, err := readImport(l, path)
			if err != nil {
				return formFailedMsg{field: "path", err: err}
			}
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			rep, err := api.ImportUsers(ctx, adminapi.UserImportRequest{CSV: data, DryRun: true, Update: update})
			if err != nil {
				return formFailedMsg{field: "path", err: err}
			}
			return importDryRunMsg{csv: data, update: update, report: rep}
		}
	case formPasswordsPath:
		path, pw := v["path"], u.report.Passwords
		return func() tea.Msg {
			if err := writePasswords(path, pw); err != nil {
				return formFailedMsg{field: "path", err: err}
			}
			return passwordsSavedMsg{path}
		}
	}
	return nil
}

// editOf returns the changes the edit form's values make to d: only what differs.
func editOf(d adminapi.UserInfo, v map[string]string) adminapi.UserEdit {
	var e adminapi.UserEdit
	if name := strings.TrimSpace(v["name"]); name != d.Name {
		e.Name = &name
	}
	if lang := v["lang"]; lang != d.Lang {
		e.Lang = &lang
	}
	if role := v["role"]; role != d.Role {
		e.Role = &role
	}
	if q, err := parseQuota(LangEN, v["quota"]); err == nil && q != d.QuotaBytes {
		e.QuotaBytes = &q
	}
	return e
}

func validEmail(l Lang) func(string) error {
	return func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return errors.New(Text{"Indiquez une adresse.", "Enter an e-mail address."}.In(l))
		}
		a, err := mail.ParseAddress(s)
		at := strings.LastIndexByte(s, '@')
		if err != nil || a.Address != s || at < 1 || len(s) > 254 {
			return errors.New(Text{"Adresse invalide : nom@domaine.fr attendu.", "Not an e-mail address: want name@domain.org."}.In(l))
		}
		return nil
	}
}

func validName(l Lang) func(string) error {
	return func(s string) error {
		if len(s) > 200 {
			return errors.New(Text{"Nom trop long (200 caractères au plus).", "Name too long (200 characters at most)."}.In(l))
		}
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return errors.New(Text{"Le nom contient un caractère de contrôle.", "The name holds a control character."}.In(l))
		}
		return nil
	}
}

func (t Text) fmt(l Lang, args ...any) string { return fmt.Sprintf(t.In(l), args...) }

// roleTexts name the roles for people.
var roleTexts = map[string]Text{
	"user":       {"utilisateur", "user"},
	"manager":    {"gestionnaire", "manager"},
	"supervisor": {"superviseur", "supervisor"},
}

// textOf returns texts[s] in l, or s itself when texts lacks it.
func textOf(texts map[string]Text, l Lang, s string) string {
	if t, ok := texts[s]; ok {
		return t.In(l)
	}
	return s
}

func roleText(l Lang, role string) string { return textOf(roleTexts, l, role) }

func (u *Users) setRows() {
	l := u.env.Lang
	rows := make([]Row, 0, len(u.page.Users))
	for _, user := range u.page.Users {
		state, tone := Text{"actif", "active"}.In(l), ""
		if user.Disabled {
			state, tone = Text{"désactivé", "disabled"}.In(l), "muted"
		}
		if user.EffectiveQuotaBytes > 0 && user.UsedBytes >= user.EffectiveQuotaBytes {
			tone = "warn"
		}
		rows = append(rows, Row{ID: user.Email, Tone: tone, Cells: []string{
			user.Email, user.Name, roleText(l, user.Role), user.Lang, state, sizeIn(l, user.UsedBytes)}})
	}
	u.table.SetRows(rows)
}

// View draws the body.
func (u *Users) View() string {
	l := u.env.Lang
	st := u.env.Styles
	switch u.mode {
	case usersForm:
		return block(lipgloss.Place(u.w, u.h, lipgloss.Center, lipgloss.Center, u.form.View()), u.w, u.h)
	case usersConfirm:
		return block(lipgloss.Place(u.w, u.h, lipgloss.Center, lipgloss.Center, u.confirm.View()), u.w, u.h)
	case usersShown:
		box := st.Box.Render(strings.Join([]string{
			st.Title.Render(Text{"Mot de passe de ", "Password for "}.In(l) + u.shownEmail),
			"",
			st.Selected.Render(" " + u.shownPassword + " "),
			"",
			st.Warn.Render(Text{"Affiché une seule fois : notez-le maintenant.", "Shown once: note it now."}.In(l)),
			st.Muted.Render(Text{"À changer à la première connexion. Entrée : fermer.", "To be changed at first login. Enter: close."}.In(l)),
		}, "\n"))
		return block(lipgloss.Place(u.w, u.h, lipgloss.Center, lipgloss.Center, box), u.w, u.h)
	case usersPreview, usersReport:
		return block(u.importView(), u.w, u.h)
	case usersDetail:
		return block(u.detailView(), u.w, u.h)
	}
	first, last := u.query.Offset+1, u.query.Offset+len(u.page.Users)
	if last == 0 {
		first = 0
	}
	status := Text{"%d–%d sur %d", "%d–%d of %d"}.fmt(l, first, last, u.page.Total)
	if u.query.Query != "" || u.query.Role != "" || u.query.State != "" {
		status += Text{"  · recherche : %q %s %s (esc : tout)", "  · search: %q %s %s (esc: all)"}.fmt(l,
			u.query.Query, u.query.Role, u.query.State)
	}
	return block(u.table.View()+"\n"+st.Muted.Render(status), u.w, u.h)
}

func (u *Users) detailView() string {
	l, st, d := u.env.Lang, u.env.Styles, u.detail
	state := Text{"actif", "active"}.In(l)
	if d.Disabled {
		state = st.Warn.Render(Text{"désactivé", "disabled"}.In(l))
	}
	quota := Text{"aucun", "none"}.In(l)
	if d.EffectiveQuotaBytes > 0 {
		quota = sizeIn(l, d.EffectiveQuotaBytes)
	}
	if d.QuotaBytes == adminapi.QuotaDefault {
		quota += Text{" (réglage par défaut)", " (the default setting)"}.In(l)
	}
	usage := sizeIn(l, d.UsedBytes)
	if d.EffectiveQuotaBytes > 0 {
		usage = ProgressBar(u.env, d.UsedBytes, d.EffectiveQuotaBytes, min(40, max(u.w-30, 10))) + "  " + usage
	}
	label := func(t Text) string { return st.Label.Render(fmt.Sprintf("%-22s", t.In(l))) }
	lines := []string{
		st.Title.Render(d.Email),
		"",
		label(Text{"Nom", "Name"}) + d.Name,
		label(Text{"Rôle", "Role"}) + roleText(l, d.Role),
		label(Text{"Langue", "Language"}) + d.Lang,
		label(Text{"État", "State"}) + state,
		label(Text{"Créé le", "Created"}) + formatTime(d.Created),
		label(Text{"Quota", "Quota"}) + quota,
		label(Text{"Utilisé", "Used"}) + usage,
		label(Text{"Envois", "Sends"}) + strconv.Itoa(d.Sends),
	}
	if d.MustChangePassword {
		lines = append(lines, "", st.Muted.Render(Text{"Doit changer son mot de passe à la prochaine connexion.", "Must change their password at next login."}.In(l)))
	}
	return strings.Join(lines, "\n")
}

// Keys lists the bindings of the current mode.
func (u *Users) Keys() []key.Binding {
	l := u.env.Lang
	b := func(k, help string, desc Text) key.Binding { return binding(l, help, desc, k) }
	switch u.mode {
	case usersForm:
		return u.form.Keys()
	case usersConfirm:
		keys := []key.Binding{b("y", "y", Text{"oui", "yes"}), b("n", "n/esc", Text{"non", "no"})}
		if u.confirmKind == confirmDelete {
			keys = append(keys, b("k", "k", Text{"garder/révoquer les envois", "keep/revoke the sends"}))
		}
		return keys
	case usersShown:
		return []key.Binding{b("enter", "enter", Text{"fermer", "close"})}
	case usersPreview:
		return append([]key.Binding{b("enter", "enter", Text{"importer", "import"}), b("esc", "esc", Text{"annuler", "cancel"})}, u.preview.Keys()...)
	case usersReport:
		return append([]key.Binding{b("w", "w", Text{"enregistrer les mots de passe", "save the passwords"}), b("esc", "esc", Text{"fermer", "close"})}, u.preview.Keys()...)
	case usersDetail:
		return []key.Binding{
			b("e", "e", Text{"modifier", "edit"}), b("x", "x", Text{"désactiver/réactiver", "disable/enable"}),
			b("p", "p", Text{"nouveau mot de passe", "reset password"}), b("d", "d", Text{"supprimer", "delete"}),
			b("esc", "esc", Text{"retour", "back"}),
		}
	}
	keys := []key.Binding{
		b("/", "/", Text{"chercher", "search"}), b("n", "n", Text{"nouveau", "new"}),
		b("enter", "enter", Text{"détail", "detail"}), b("e", "e", Text{"modifier", "edit"}),
		b("x", "x", Text{"désactiver/réactiver", "disable/enable"}), b("p", "p", Text{"nouveau mot de passe", "reset password"}),
		b("d", "d", Text{"supprimer", "delete"}), b("i", "i", Text{"importer un CSV", "import a CSV"}),
		b("[", "[/]", Text{"page préc./suiv.", "prev/next page"}),
	}
	return append(keys, tableKeysBut(u.table, "/")...)
}

// Typing is true while a form or a dialog has the focus, and while an import's passwords,
// shown nowhere else, are not saved: `q` must not lose them.
func (u *Users) Typing() bool {
	switch u.mode {
	case usersForm, usersConfirm, usersShown:
		return true
	case usersReport:
		return len(u.report.Passwords) > 0 && u.savedTo == ""
	}
	return u.table.Filtering()
}
