package tui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"valise/adminapi"
)

// fakeUsers is a UsersAPI over fixed data that records the changes asked of it.
type fakeUsers struct {
	mu      sync.Mutex // guards everything below
	users   []adminapi.UserInfo
	queries []adminapi.UserQuery
	added   []adminapi.UserAddRequest
	edits   map[string]adminapi.UserEdit
	deleted map[string]adminapi.UserDeleteRequest
	imports []adminapi.UserImportRequest
	resets  []string
}

func newFakeUsers() *fakeUsers {
	created := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	return &fakeUsers{
		edits: map[string]adminapi.UserEdit{}, deleted: map[string]adminapi.UserDeleteRequest{},
		users: []adminapi.UserInfo{
			{Email: "alice@example.org", Name: "Alice Martin", Role: "supervisor", Lang: "fr", Created: created,
				QuotaBytes: adminapi.QuotaDefault, EffectiveQuotaBytes: 10 << 30, UsedBytes: 3 << 30, Sends: 4},
			{Email: "bob@example.org", Name: "Bob Leroy", Role: "user", Lang: "en", Created: created,
				QuotaBytes: 500 << 20, EffectiveQuotaBytes: 500 << 20, UsedBytes: 500 << 20, Sends: 12},
			{Email: "carol@example.org", Role: "manager", Lang: "fr", Disabled: true, Created: created},
		},
	}
}

func (f *fakeUsers) ListUsers(_ context.Context, q adminapi.UserQuery) (adminapi.UserPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	var out []adminapi.UserInfo
	for _, u := range f.users {
		if strings.Contains(u.Email+" "+u.Name, q.Query) {
			out = append(out, u)
		}
	}
	total := len(out)
	out = out[min(q.Offset, total):min(q.Offset+q.Limit, total)]
	return adminapi.UserPage{Users: out, Total: total}, nil
}

func (f *fakeUsers) find(email string) (adminapi.UserInfo, error) {
	for _, u := range f.users {
		if u.Email == email {
			return u, nil
		}
	}
	return adminapi.UserInfo{}, &adminapi.Error{Code: adminapi.CodeNotFound, Message: "no such user"}
}

func (f *fakeUsers) GetUser(_ context.Context, email string) (adminapi.UserInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.find(email)
}

func (f *fakeUsers) AddUser(_ context.Context, req adminapi.UserAddRequest) (adminapi.UserAddResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(req.Email); err == nil {
		return adminapi.UserAddResponse{}, &adminapi.Error{Code: adminapi.CodeConflict, Message: "This address has an account already."}
	}
	f.added = append(f.added, req)
	return adminapi.UserAddResponse{Email: req.Email, Role: req.Role, Lang: req.Lang, Password: "Xk4-first-pass"}, nil
}

func (f *fakeUsers) EditUser(_ context.Context, email string, e adminapi.UserEdit) (adminapi.UserInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.find(email)
	if err != nil {
		return u, err
	}
	f.edits[email] = e
	if e.QuotaBytes != nil {
		u.QuotaBytes = *e.QuotaBytes
	}
	return u, nil
}

func (f *fakeUsers) SetUserDisabled(_ context.Context, email string, disabled bool) (adminapi.UserInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.users {
		if f.users[i].Email == email {
			f.users[i].Disabled = disabled
			return f.users[i], nil
		}
	}
	return adminapi.UserInfo{}, &adminapi.Error{Code: adminapi.CodeNotFound, Message: "no such user"}
}

func (f *fakeUsers) DeleteUser(_ context.Context, email string, req adminapi.UserDeleteRequest) (adminapi.UserDeleteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted[email] = req
	return adminapi.UserDeleteResult{Email: email, SendsRevoked: 3}, nil
}

func (f *fakeUsers) ResetPassword(_ context.Context, email string) (adminapi.UserAddResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, email)
	return adminapi.UserAddResponse{Email: email, Password: "Reset-9f2k"}, nil
}

// ImportUsers answers a fixed report: line 3 refused, two users to create.
func (f *fakeUsers) ImportUsers(_ context.Context, req adminapi.UserImportRequest) (adminapi.UserImportReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imports = append(f.imports, req)
	rep := adminapi.UserImportReport{
		DryRun: req.DryRun, Lines: 3, Created: 2,
		Failed: []adminapi.ImportLineError{{Line: 3, Email: "bad@", Error: "not an e-mail address"}},
		Preview: []adminapi.ImportRow{
			{Line: 2, Email: "dan@example.org", Name: "Dan", Role: "user", Lang: "fr", QuotaBytes: adminapi.QuotaDefault, Action: "create"},
			{Line: 3, Email: "bad@", Role: "user", Lang: "fr", QuotaBytes: adminapi.QuotaDefault, Action: "error"},
			{Line: 4, Email: "eve@example.org", Role: "manager", Lang: "en", QuotaBytes: 10 << 30, Action: "create"},
		},
	}
	if !req.DryRun {
		rep.Passwords = []adminapi.ImportPassword{{Email: "dan@example.org", Password: "p1"}, {Email: "eve@example.org", Password: "p2"}}
	}
	return rep, nil
}

// driver feeds a screen messages and runs the commands it returns at once, as the App
// would, keeping what goes to the App (toasts and errors).
type driver struct {
	t     *testing.T
	s     Screen
	toApp []tea.Msg
}

func newDriver(t *testing.T, s Screen) *driver {
	d := &driver{t: t, s: s}
	d.send(BodySizeMsg{Width: 80, Height: 20})
	d.run(s.Init())
	return d
}

func (d *driver) send(msgs ...tea.Msg) {
	d.t.Helper()
	for _, m := range msgs {
		var cmd tea.Cmd
		d.s, cmd = d.s.Update(m)
		d.run(cmd)
	}
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch m := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range m {
			d.run(c)
		}
	case ToastMsg, ErrMsg:
		d.toApp = append(d.toApp, m)
	default:
		d.send(m)
	}
}

// keys presses each key; "text:…" types its text.
func (d *driver) keys(keys ...string) {
	d.t.Helper()
	for _, k := range keys {
		if s, ok := strings.CutPrefix(k, "text:"); ok {
			for _, r := range s {
				d.send(press(string(r)))
			}
			continue
		}
		d.send(press(k))
	}
}

// view is the screen's body, checked to fill exactly the size it was given.
func (d *driver) view() string {
	d.t.Helper()
	v := ansi.Strip(d.s.View())
	lines := strings.Split(v, "\n")
	if len(lines) != 20 {
		d.t.Fatalf("the view has %d lines, want 20:\n%s", len(lines), v)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			d.t.Fatalf("line %d is %d cells wide, want at most 80:\n%s", i+1, w, v)
		}
	}
	return v
}

func (d *driver) wantView(texts ...string) {
	d.t.Helper()
	v := d.view()
	for _, s := range texts {
		if !strings.Contains(v, s) {
			d.t.Fatalf("the view lacks %q:\n%s", s, v)
		}
	}
}

// TestUsersNewForm checks the new-user form refuses a bad address without calling the node,
// shows the node's refusal on the field, and shows the generated password once.
func TestUsersNewForm(t *testing.T) {
	api := newFakeUsers()
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	d.wantView("alice@example.org", "1–3 of 3")

	d.keys("n", "text:dan@", "ctrl+s")
	if !d.s.Typing() || len(api.added) != 0 {
		t.Fatalf("a bad address was submitted: %+v", api.added)
	}
	d.wantView("Not an e-mail address")

	d.keys("backspace", "backspace", "backspace", "backspace", "text:alice@example.org", "ctrl+s")
	d.wantView("This address has an account already.")

	d.keys("ctrl+u", "text:dan@example.org", "tab", "text:Dan", "tab", "right", "tab", "right", "ctrl+s")
	if len(api.added) != 1 {
		t.Fatalf("added %+v", api.added)
	}
	if got := api.added[0]; got.Email != "dan@example.org" || got.Name != "Dan" || got.Role != "manager" || got.Lang != "fr" {
		t.Fatalf("added %+v", got)
	}
	d.wantView("Password for dan@example.org", "Xk4-first-pass", "Shown once")
	d.keys("enter")
	if d.s.Typing() || strings.Contains(d.view(), "Xk4-first-pass") {
		t.Fatalf("the password is still shown:\n%s", d.view())
	}
}

// TestUsersEditQuota checks the edit form parses the quota, refuses a bad one without
// calling the node, and sends only what changed.
func TestUsersEditQuota(t *testing.T) {
	api := newFakeUsers()
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	d.keys("down", "e") // bob
	d.wantView("Edit bob@example.org", "500M")
	d.keys("tab", "tab", "tab", "ctrl+u", "text:10X", "ctrl+s")
	if len(api.edits) != 0 {
		t.Fatalf("a bad quota was submitted: %+v", api.edits)
	}
	d.wantView("Bad quota")
	for _, tc := range []struct {
		typed string
		want  int64
	}{{"10G", 10 << 30}, {"none", 0}, {"default", adminapi.QuotaDefault}} {
		d.keys("ctrl+u", "text:"+tc.typed, "ctrl+s")
		e, ok := api.edits["bob@example.org"]
		if !ok || e.QuotaBytes == nil || *e.QuotaBytes != tc.want || e.Name != nil || e.Role != nil || e.Lang != nil {
			t.Fatalf("quota %q: edit %+v", tc.typed, e)
		}
		delete(api.edits, "bob@example.org")
		if d.s.Typing() {
			t.Fatalf("quota %q: the form is still open:\n%s", tc.typed, d.view())
		}
		d.keys("e", "tab", "tab", "tab")
	}
}

// TestUsersDeleteKeepSends checks the delete confirmation: no is the default, k switches
// to keeping the sends.
func TestUsersDeleteKeepSends(t *testing.T) {
	api := newFakeUsers()
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	d.keys("down", "d", "enter")
	if len(api.deleted) != 0 {
		t.Fatal("enter alone deleted the user")
	}
	d.keys("d")
	d.wantView("(k: keep the")
	d.keys("k")
	d.wantView("(k: revoke")
	d.keys("y")
	if req, ok := api.deleted["bob@example.org"]; !ok || !req.KeepSends {
		t.Fatalf("deleted %+v", api.deleted)
	}
}

// TestUsersResetAndDisable checks the password reset (confirmed, shown once) and the
// disable key.
func TestUsersResetAndDisable(t *testing.T) {
	api := newFakeUsers()
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	d.keys("enter")
	d.wantView("alice@example.org", "Sends", "4")
	d.keys("p", "y")
	d.wantView("Reset-9f2k")
	d.keys("enter", "x")
	if !api.users[0].Disabled {
		t.Fatal("x did not disable alice")
	}
	d.wantView("disabled")
	d.keys("esc", "/", "text:bob", "ctrl+s")
	if q := api.queries[len(api.queries)-1]; q.Query != "bob" || q.Offset != 0 {
		t.Fatalf("search asked %+v", q)
	}
	d.wantView("bob@example.org", "search")
}

// TestUsersImport walks the CSV import: a bad path is refused in the form, a good one is
// checked by a dry run whose preview shows the refused line, then applied after a
// confirmation, and its passwords are written to a new 0600 file.
func TestUsersImport(t *testing.T) {
	api := newFakeUsers()
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "users.csv")
	const csvText = "email,name\ndan@example.org,Dan\nbad@\neve@example.org,\n"
	if err := os.WriteFile(csvPath, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))

	d.keys("i", "text:"+filepath.Join(dir, "nope.csv"), "ctrl+s")
	if len(api.imports) != 0 {
		t.Fatal("a missing file was imported")
	}
	d.wantView("No such file")

	d.keys("ctrl+u", "text:"+csvPath, "ctrl+s")
	if len(api.imports) != 1 || !api.imports[0].DryRun || api.imports[0].CSV != csvText {
		t.Fatalf("imports %+v", api.imports)
	}
	d.wantView("Import preview", "2 to create", "1 refused", "not an e-mail address", "eve@example.org")

	d.keys("enter", "n")
	if len(api.imports) != 1 {
		t.Fatal("refusing the confirmation imported")
	}
	d.keys("enter", "y")
	if len(api.imports) != 2 || api.imports[1].DryRun || api.imports[1].CSV != csvText {
		t.Fatalf("imports %+v", api.imports)
	}
	d.wantView("Import done", "2 created", "w saves them")

	d.keys("esc")
	d.wantView("Close without saving")
	d.keys("n", "w")
	pwPath := filepath.Join(dir, "pw.csv")
	d.keys("text:"+csvPath, "ctrl+s")
	d.wantView("That file exists already")
	d.keys("ctrl+u", "text:"+pwPath, "ctrl+s")
	fi, err := os.Stat(pwPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("passwords file: %v, %v", fi, err)
	}
	d.wantView("Passwords saved to")
	d.keys("esc")
	d.wantView("alice@example.org")
}

// TestUsersPagingAndLang checks `]` and `[` page through the node's users and that the
// screen follows a language switch.
func TestUsersPagingAndLang(t *testing.T) {
	api := newFakeUsers()
	for i := range 247 {
		api.users = append(api.users, adminapi.UserInfo{Email: fmt.Sprintf("u%03d@example.org", i), Role: "user", Lang: "fr"})
	}
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	d.wantView("1–100 of 250")
	d.keys("]", "]")
	d.wantView("201–250 of 250", "u197@example.org")
	d.keys("]")
	if q := api.queries[len(api.queries)-1]; q.Offset != 200 || q.Limit != usersPageSize {
		t.Fatalf("past the last page asked %+v", q)
	}
	d.keys("[")
	d.wantView("101–200 of 250")
	d.send(LangMsg{Lang: LangFR})
	d.wantView("101–200 sur 250", "Adresse", "utilisateur")
}

// failingUsers fails every list while down is set, as a node that stopped would.
type failingUsers struct {
	*fakeUsers
	down bool
}

func (f *failingUsers) ListUsers(ctx context.Context, q adminapi.UserQuery) (adminapi.UserPage, error) {
	if f.down {
		return adminapi.UserPage{}, adminapi.ErrNotRunning
	}
	return f.fakeUsers.ListUsers(ctx, q)
}

// TestUsersRetryAfterLostConnection checks a failed list goes to the App as an ErrMsg and
// is asked again on the next tick, and only then.
func TestUsersRetryAfterLostConnection(t *testing.T) {
	api := &failingUsers{fakeUsers: newFakeUsers(), down: true}
	d := newDriver(t, NewUsers(api, testEnv(LangEN)))
	if len(d.toApp) != 1 {
		t.Fatalf("the App got %v", d.toApp)
	}
	if e, ok := d.toApp[0].(ErrMsg); !ok || e.Err != adminapi.ErrNotRunning {
		t.Fatalf("the App got %v", d.toApp)
	}
	api.down = false
	d.send(TickMsg{Time: testNow})
	d.wantView("alice@example.org")
	n := len(api.queries)
	d.send(TickMsg{Time: testNow})
	if len(api.queries) != n {
		t.Fatal("a tick reloaded a list that had loaded")
	}
}
