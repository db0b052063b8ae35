package account

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestParseImport: columns in any order, either separator, a BOM, and one error per bad line
// with its line number.
func TestParseImport(t *testing.T) {
	csv := "\uFEFFname;EMAIL;role;lang;quota\n" +
		"Alice Martin;Alice@Example.org;manager;en;10G\n" +
		"\n" +
		"Bob;bob@example.org;;;\n" +
		"Bad;not an address;user;fr;\n" +
		"Carl;carl@example.org;king;fr;\n" +
		"Dup;alice@example.org;user;fr;\n" +
		"Eve;eve@example.org;user;de;\n" +
		"Finn;finn@example.org;user;fr;lots\n" +
		"Gus;gus@example.org;user;fr;none\n"
	lines, err := ParseImport(csv)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		line  int
		email string
		role  Role
		lang  Language
		quota int64
		bad   bool
	}
	wants := []want{
		{2, "alice@example.org", RoleManager, LangEN, 10 << 30, false},
		{4, "bob@example.org", RoleUser, LangFR, QuotaDefault, false},
		{5, "", 0, "", 0, true},
		{6, "", 0, "", 0, true},
		{7, "", 0, "", 0, true}, // alice again
		{8, "", 0, "", 0, true},
		{9, "", 0, "", 0, true},
		{10, "gus@example.org", RoleUser, LangFR, 0, false},
	}
	if len(lines) != len(wants) {
		t.Fatalf("%d lines, want %d: %+v", len(lines), len(wants), lines)
	}
	for i, w := range wants {
		l := lines[i]
		if l.Line != w.line || (l.Err != nil) != w.bad {
			t.Errorf("line %d: got %+v, want line %d bad=%v", i, l, w.line, w.bad)
			continue
		}
		if !w.bad && (l.Email != w.email || l.Role != w.role || l.Language != w.lang || l.Quota != w.quota) {
			t.Errorf("line %d: got %+v, want %+v", w.line, l, w)
		}
	}
	for _, bad := range []string{"", "name\nx\n", "email,email\n", "email,shoe\n", "email,quota,quota_bytes\n"} {
		if _, err := ParseImport(bad); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseImport(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", QuotaDefault, true}, {"default", QuotaDefault, true}, {"none", 0, true}, {"0", 0, true},
		{"1024", 1024, true}, {"10G", 10 << 30, true}, {"5MiB", 5 << 20, true}, {"2kb", 2 << 10, true},
		{"-1", 0, false}, {"+5", 0, false}, {"G", 0, false}, {"1.5G", 0, false}, {"99999999999T", 0, false},
	} {
		got, err := ParseQuota(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseQuota(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseImport: the parser never panics; every accepted line is valid and unique.
func FuzzParseImport(f *testing.F) {
	f.Add("email,name,role,lang,quota\na@example.org,A,user,fr,1G\n")
	f.Add("email;quota_bytes\n\"a@example.org\";12\nb@example.org;-1\n")
	f.Add("email\n\"unterminated\n")
	f.Add("\uFEFFEMAIL,name\nx@y.z,\"a,b\"\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := ParseImport(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("ParseImport = %v, want ErrInvalidInput", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, l := range lines {
			if l.Line < 2 {
				t.Fatalf("line number %d", l.Line)
			}
			if l.Err != nil {
				continue
			}
			if seen[l.Email] {
				t.Fatalf("%s accepted twice", l.Email)
			}
			seen[l.Email] = true
			if n, err := NormalizeEmail(l.Email); err != nil || n != l.Email || !utf8.ValidString(l.Name) || l.Quota < QuotaDefault {
				t.Fatalf("accepted line %+v", l)
			}
			if _, err := l.Role.MarshalText(); err != nil {
				t.Fatalf("accepted role %v", l.Role)
			}
		}
	})
}

// TestUpdateDeleteLastSupervisor: edits are applied and journalled; the last active
// supervisor cannot be demoted, disabled or deleted, another one can.
func TestUpdateDeleteLastSupervisor(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	root, _, err := e.svc.Add(ctx, NewUser{Email: "root@example.org", Role: RoleSupervisor})
	if err != nil {
		t.Fatal(err)
	}
	name, lang, quota := "Root Admin", LangEN, int64(5<<20)
	u, err := e.svc.Update(ctx, root.Email, Edit{Name: &name, Language: &lang, Quota: &quota})
	if err != nil || u.Name != name || u.Language != LangEN || u.QuotaBytes() != quota {
		t.Fatalf("Update = %+v, %v", u, err)
	}
	def := QuotaDefault
	if u, err = e.svc.Update(ctx, root.Email, Edit{Quota: &def}); err != nil || u.Quota != nil {
		t.Fatalf("Update back to the default quota = %+v, %v", u, err)
	}
	user := RoleUser
	if _, err := e.svc.Update(ctx, root.Email, Edit{Role: &user}); !errors.Is(err, ErrLastSupervisor) {
		t.Fatalf("demoting the last supervisor = %v", err)
	}
	if _, err := e.svc.Disable(ctx, root.Email); !errors.Is(err, ErrLastSupervisor) {
		t.Fatalf("disabling the last supervisor = %v", err)
	}
	if _, err := e.svc.Delete(ctx, root.Email); !errors.Is(err, ErrLastSupervisor) {
		t.Fatalf("deleting the last supervisor = %v", err)
	}
	if _, _, err := e.svc.Add(ctx, NewUser{Email: "second@example.org", Role: RoleSupervisor}); err != nil {
		t.Fatal(err)
	}
	tok := e.addUser(t, "bob@example.org", "correct horse battery")
	if _, secret, err := e.svc.CreateToken(ctx, tok.ID, "cli"); err != nil || secret == "" {
		t.Fatal(err)
	}
	if _, err := e.svc.Delete(ctx, root.Email); err != nil {
		t.Fatalf("deleting a supervisor while another remains = %v", err)
	}
	if _, err := e.svc.Delete(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ByEmail(ctx, "bob@example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user still found: %v", err)
	}
	if toks, err := e.svc.ListTokens(ctx, tok.ID); err != nil || len(toks) != 0 {
		t.Fatalf("deleted user's tokens = %v, %v", toks, err)
	}
	got, total, err := e.svc.Search(ctx, Query{Text: "SECOND"}, 0, 10)
	if err != nil || total != 1 || got[0].Email != "second@example.org" {
		t.Fatalf("Search = %v, %d, %v", got, total, err)
	}
}

// TestAddBatch: a full batch commits at once with cheap hashes of the generated passwords,
// which still check (padded to the full cost); a taken address fails the whole batch.
func TestAddBatch(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	var b strings.Builder
	b.WriteString("email,quota\n")
	for i := range MaxImportBatch {
		fmt.Fprintf(&b, "u%d@example.org,1M\n", i)
	}
	lines, err := ParseImport(b.String())
	if err != nil {
		t.Fatal(err)
	}
	users, passwords, err := e.svc.AddBatch(ctx, lines)
	if err != nil || len(users) != MaxImportBatch {
		t.Fatalf("AddBatch = %d users, %v", len(users), err)
	}
	if users[7].QuotaBytes() != 1<<20 || !users[7].MustChangePassword {
		t.Fatalf("user %+v", users[7])
	}
	if _, err := e.svc.CheckPassword(ctx, users[7].Email, passwords[7]); err != nil {
		t.Fatalf("generated password refused: %v", err)
	}
	if _, _, err := e.svc.AddBatch(ctx, lines[:2]); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("AddBatch of taken addresses = %v", err)
	}
}
