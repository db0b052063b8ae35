package account

import (
	"errors"
	"strings"
	"testing"

	"valise/raftfsm"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "alice@example.org", "alice@example.org"},
		{"upper case and spaces", "  Alice.Martin@Example.ORG ", "alice.martin@example.org"},
		{"plus tag", "bob+valise@mail.example.fr", "bob+valise@mail.example.fr"},
		{"intranet single label", "admin@localhost", "admin@localhost"},
		{"atext", "o'brien#1@ex-ample.com", "o'brien#1@ex-ample.com"},
		{"empty", "", ""},
		{"no at", "alice.example.org", ""},
		{"two at", "a@b@example.org", ""},
		{"display name", "Alice <alice@example.org>", ""},
		{"leading dot", ".alice@example.org", ""},
		{"double dot", "al..ice@example.org", ""},
		{"trailing dot domain", "alice@example.org.", ""},
		{"quoted local", `"alice"@example.org`, ""},
		{"space inside", "ali ce@example.org", ""},
		{"header injection", "alice@example.org\r\nBcc: x@y.z", ""},
		{"NUL", "alice\x00@example.org", ""},
		{"non-ASCII", "élise@example.org", ""},
		{"hyphen label edge", "a@-example.org", ""},
		{"IP literal", "a@[127.0.0.1]", ""},
		{"local part too long", strings.Repeat("a", 65) + "@example.org", ""},
		{"too long", "a@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.org", " A@B ", "a@b@c", "\"x\"@y", "a..b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
		if strings.ContainsAny(got, " \r\n\t<>\"\x00") {
			t.Fatalf("accepted %q", got)
		}
	})
}

func TestRoleAndLanguage(t *testing.T) {
	for _, r := range []Role{RoleUser, RoleManager, RoleSupervisor} {
		got, err := ParseRole(strings.ToUpper(r.String()))
		if err != nil || got != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseRole("root"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("ParseRole(root): %v", err)
	}
	if _, err := Role(9).MarshalText(); err == nil {
		t.Error("Role(9) marshals")
	}
	for in, want := range map[string]Language{"": LangFR, "fr": LangFR, "EN": LangEN} {
		if got, err := ParseLanguage(in); err != nil || got != want {
			t.Errorf("ParseLanguage(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLanguage("de"); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("ParseLanguage(de): %v", err)
	}
}

func TestAddAndLookup(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	u, pw, err := e.svc.Add(WithActor(ctx, "cli"), NewUser{Email: " Admin@Example.org", Name: "Ada", Role: RoleSupervisor, Language: LangEN})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "admin@example.org" || u.Role != RoleSupervisor || u.Language != LangEN || u.Name != "Ada" {
		t.Errorf("user = %+v", u)
	}
	if len(pw) != 26 || !u.MustChangePassword {
		t.Errorf("generated password %q (must change %v): want 26 characters and a change required", pw, u.MustChangePassword)
	}
	if !u.Created.Equal(e.clk.Now()) || len(u.ID) != 36 {
		t.Errorf("ID %q, created %v", u.ID, u.Created)
	}
	if got, err := e.svc.ByEmail(ctx, "ADMIN@example.org"); err != nil || got != u {
		t.Errorf("ByEmail = %+v, %v", got, err)
	}
	if got, err := e.svc.ByID(ctx, u.ID); err != nil || got != u {
		t.Errorf("ByID = %+v, %v", got, err)
	}
	if got, err := e.svc.CheckPassword(ctx, "admin@example.org", pw); err != nil || got.ID != u.ID {
		t.Errorf("CheckPassword with the generated password: %v", err)
	}

	u2, pw2, err := e.svc.Add(ctx, NewUser{Email: "bob@example.org", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if pw2 != "correct horse battery" || u2.MustChangePassword || u2.Role != RoleUser || u2.Language != LangFR {
		t.Errorf("user with chosen password: %+v, %q", u2, pw2)
	}
	list, err := e.svc.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != u.ID || list[1].ID != u2.ID {
		t.Errorf("List = %+v, %v", list, err)
	}
	if _, err := e.svc.ByEmail(ctx, "nobody@example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByEmail unknown: %v", err)
	}
	if _, err := e.svc.ByID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID unknown: %v", err)
	}

	// The journal names the actor and holds no secret.
	var found bool
	err = e.store.Journal(1, func(en raftfsm.Entry) error {
		if en.Action == "user.add" && en.Target == string(u.ID) {
			found = en.Actor == "cli"
		}
		return nil
	})
	if err != nil || !found {
		t.Errorf("no user.add journal entry by cli: %v", err)
	}
}

func TestAddRejects(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.addUser(t, "taken@example.org", "")
	for _, tc := range []struct {
		name string
		nu   NewUser
		want error
		key  string
	}{
		{"duplicate e-mail", NewUser{Email: "Taken@Example.org"}, ErrEmailTaken, "account.email_taken"},
		{"bad e-mail", NewUser{Email: "not an address"}, ErrInvalidEmail, "account.invalid_email"},
		{"short password", NewUser{Email: "a@example.org", Password: "short"}, ErrWeakPassword, "account.weak_password"},
		{"huge password", NewUser{Email: "a@example.org", Password: strings.Repeat("x", MaxPasswordLen+1)}, ErrWeakPassword, "account.weak_password"},
		{"bad language", NewUser{Email: "a@example.org", Language: "de"}, ErrInvalidInput, "account.invalid_input"},
		{"bad role", NewUser{Email: "a@example.org", Role: 7}, ErrInvalidInput, "account.invalid_input"},
		{"RTL override in name", NewUser{Email: "a@example.org", Name: "evil\u202egpj.exe"}, ErrInvalidInput, "account.invalid_input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.Add(ctx, tc.nu)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Add: %v, want %v", err, tc.want)
			}
			var ue *UserError
			if !errors.As(err, &ue) || ue.Key != tc.key || ue.Message(LangFR) == "" || ue.Message(LangEN) == ue.Message(LangFR) {
				t.Fatalf("error %v is not a UserError with key %s and two languages", err, tc.key)
			}
		})
	}
	if list, _ := e.svc.List(ctx); len(list) != 1 {
		t.Errorf("%d users after rejected adds, want 1", len(list))
	}
}

func TestSetPasswordAndRole(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.addUser(t, "c@example.org", "")
	if err := e.svc.SetPassword(ctx, "c@example.org", "short", ""); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("SetPassword weak: %v", err)
	}
	if err := e.svc.SetPassword(ctx, "c@example.org", "a much longer passphrase", ""); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.CheckPassword(ctx, "c@example.org", "a much longer passphrase")
	if err != nil || u.MustChangePassword {
		t.Fatalf("CheckPassword after SetPassword: %+v, %v", u, err)
	}
	pw, err := e.svc.ResetPassword(ctx, "c@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CheckPassword(ctx, "c@example.org", "a much longer passphrase"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after reset: %v", err)
	}
	if u, err := e.svc.CheckPassword(ctx, "c@example.org", pw); err != nil || !u.MustChangePassword {
		t.Errorf("reset password: %+v, %v", u, err)
	}
	if u, err := e.svc.SetRole(ctx, "c@example.org", RoleManager); err != nil || u.Role != RoleManager {
		t.Errorf("SetRole: %+v, %v", u, err)
	}
	if _, err := e.svc.SetRole(ctx, "nobody@example.org", RoleManager); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetRole unknown: %v", err)
	}
}
