package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"valise/adminapi"
)

// TestParseQuota checks the edit form's quota syntax (issue 20): binary suffixes, "default"
// and "none", and refusals of anything else.
func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		bad      bool
	}{
		{"megabytes", "500M", 500 << 20, false},
		{"gigabytes", "10G", 10 << 30, false},
		{"lower case with iB", "2gib", 2 << 30, false},
		{"kilobytes with B", "64KB", 64 << 10, false},
		{"terabytes", "1T", 1 << 40, false},
		{"plain bytes", "12345", 12345, false},
		{"default", "default", adminapi.QuotaDefault, false},
		{"empty is default", "  ", adminapi.QuotaDefault, false},
		{"none", "none", 0, false},
		{"zero", "0", 0, false},
		{"negative", "-5G", 0, true},
		{"fraction", "1.5G", 0, true},
		{"unknown unit", "10X", 0, true},
		{"unit alone", "G", 0, true},
		{"overflow", "9999999999T", 0, true},
		{"words", "lots", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQuota(LangEN, tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseQuota(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseQuota(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzParseQuota checks that whatever an operator types, parseQuota never panics, never
// returns a negative quota but QuotaDefault, and that quotaText reads back to the same value.
func FuzzParseQuota(f *testing.F) {
	for _, s := range []string{"500M", "10G", "default", "none", "0", "1T", "9223372036854775807", "8E", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseQuota(LangFR, s)
		if err != nil {
			return
		}
		if q < adminapi.QuotaDefault {
			t.Fatalf("parseQuota(%q) = %d", s, q)
		}
		back, err := parseQuota(LangFR, quotaText(q))
		if err != nil || back != q {
			t.Fatalf("quotaText(%d) = %q reads back as %d, %v", q, quotaText(q), back, err)
		}
	})
}

// TestValidEmail checks the new-user form's address check.
func TestValidEmail(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"alice@example.org", true},
		{"a.b+c@sub.example.fr", true},
		{"", false},
		{"alice", false},
		{"alice@localhost", true}, // an intranet domain: the node decides
		{"Alice <alice@example.org>", false},
		{"@example.org", false},
		{"alice@@example.org", false},
		{"al ice@example.org", false},
		{strings.Repeat("a", 250) + "@example.org", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if err := validEmail(LangEN)(tc.in); (err == nil) != tc.ok {
				t.Fatalf("validEmail(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

// TestValidName checks the name field refuses control characters and very long names.
func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"empty", "", true},
		{"accents", "Élodie Dupré", true},
		{"newline", "a\nb", false},
		{"too long", strings.Repeat("x", 201), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validName(LangFR)(tc.in); (err == nil) != tc.ok {
				t.Fatalf("validName(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

// TestValidImportPath checks the import form's path: a readable regular file of at most
// adminapi.MaxImportBytes.
func TestValidImportPath(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(good, []byte("email\na@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, adminapi.MaxImportBytes+1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"file", good, true},
		{"empty", "", false},
		{"missing", filepath.Join(dir, "nope.csv"), false},
		{"directory", dir, false},
		{"too large", big, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validImportPath(LangEN)(tc.path); (err == nil) != tc.ok {
				t.Fatalf("validImportPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
			}
		})
	}
}

// TestWritePasswords checks the import's passwords land in a new file only its owner may
// read, and that an existing file is never replaced.
func TestWritePasswords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw.csv")
	if err := validNewFilePath(LangEN)(path); err != nil {
		t.Fatalf("validNewFilePath(new file) = %v", err)
	}
	pw := []adminapi.ImportPassword{{Email: "a@example.org", Password: "s3cret,x"}}
	if err := writePasswords(path, pw); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if want := "email,password\na@example.org,\"s3cret,x\"\n"; string(data) != want {
		t.Fatalf("file = %q, want %q", data, want)
	}
	if err := validNewFilePath(LangEN)(path); err == nil {
		t.Fatal("validNewFilePath accepts an existing file")
	}
	if err := writePasswords(path, pw); err == nil {
		t.Fatal("writePasswords replaced an existing file")
	}
	if err := validNewFilePath(LangEN)(filepath.Join(dir, "no", "pw.csv")); err == nil {
		t.Fatal("validNewFilePath accepts a missing folder")
	}
}

// TestEditOf checks the edit form sends only what changed.
func TestEditOf(t *testing.T) {
	d := adminapi.UserInfo{Email: "a@example.org", Name: "A", Lang: "fr", Role: "user", QuotaBytes: adminapi.QuotaDefault}
	e := editOf(d, map[string]string{"name": "A", "lang": "fr", "role": "user", "quota": "default"})
	if e.Name != nil || e.Lang != nil || e.Role != nil || e.QuotaBytes != nil {
		t.Fatalf("no change gave %+v", e)
	}
	e = editOf(d, map[string]string{"name": " B ", "lang": "en", "role": "manager", "quota": "10G"})
	if e.Name == nil || *e.Name != "B" || *e.Lang != "en" || *e.Role != "manager" || *e.QuotaBytes != 10<<30 {
		t.Fatalf("changes gave %+v", e)
	}
}

// TestSizeIn checks sizes for people in both languages.
func TestSizeIn(t *testing.T) {
	for _, tc := range []struct {
		l    Lang
		n    int64
		want string
	}{
		{LangEN, 512, "512 B"},
		{LangFR, 512, "512 o"},
		{LangEN, 1536, "1.5\u00a0KiB"},
		{LangFR, 10 << 30, "10,0\u00a0Gio"},
	} {
		if got := sizeIn(tc.l, tc.n); got != tc.want {
			t.Errorf("sizeIn(%v, %d) = %q, want %q", tc.l, tc.n, got, tc.want)
		}
	}
}
