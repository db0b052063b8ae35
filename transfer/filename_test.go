package transfer

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Each attack on file names is a named case (issue 11, "Bad input and attack").
func TestValidateFileName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		problem FileNameProblem // 0: accepted
	}{
		{"plain", "report.pdf", 0},
		{"unicode", "résumé été 2026 — 日本語.pdf", 0},
		{"emoji", "📦 archive.tar.gz", 0},
		{"inner double dot", "a..b.txt", 0},
		{"leading dot", ".hidden", 0},
		{"exactly 255 bytes", strings.Repeat("é", 127) + "a", 0},
		{"html is just text", "<img src=x onerror=alert(1)>.txt", 0},
		{"attack: dot-dot slash", "../etc/passwd", NameTraversal},
		{"attack: nested traversal", "a/../../b", NameTraversal},
		{"attack: backslash traversal", "..\\windows\\system32", NameTraversal},
		{"attack: absolute path", "/etc/passwd", NamePathSeparator},
		{"attack: slash inside", "dir/file.txt", NamePathSeparator},
		{"attack: backslash inside", "dir\\file.txt", NamePathSeparator},
		{"attack: dot", ".", NameTraversal},
		{"attack: dot-dot", "..", NameTraversal},
		{"attack: dots only", "...", NameTraversal},
		{"attack: NUL truncation", "safe.txt\x00.exe", NameNUL},
		{"attack: newline header injection", "a.txt\r\nContent-Type: text/html", NameControl},
		{"attack: tab", "a\tb", NameControl},
		{"attack: escape sequence", "a\x1b[31mred", NameControl},
		{"attack: DEL", "a\x7fb", NameControl},
		{"attack: C1 control", "a\u0085b", NameControl},
		{"attack: line separator", "a\u2028b", NameControl},
		{"attack: RTL override", "invoice\u202Efdp.exe", NameBidi},
		{"attack: LRE", "a\u202Ab", NameBidi},
		{"attack: PDF", "a\u202Cb", NameBidi},
		{"attack: LRI isolate", "a\u2066b", NameBidi},
		{"attack: PDI isolate", "a\u2069b", NameBidi},
		{"attack: RLM mark", "a\u200Fb", NameBidi},
		{"attack: 10000 characters", strings.Repeat("a", 10000), NameTooLong},
		{"attack: 256 bytes", strings.Repeat("a", 256), NameTooLong},
		{"attack: invalid UTF-8", "a\xffb", NameInvalidUTF8},
		{"attack: overlong slash", "a\xc0\xafb", NameInvalidUTF8},
		{"empty", "", NameEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateFileName(tc.in)
			if tc.problem == 0 {
				if err != nil {
					t.Fatalf("ValidateFileName(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			var fe *FileNameError
			if !errors.As(err, &fe) || fe.Problem != tc.problem {
				t.Fatalf("ValidateFileName(%q) = %v, want problem %v", tc.in, err, tc.problem)
			}
			if !errors.Is(err, ErrInvalidFileName) || Code(err) != "file_name_invalid" {
				t.Fatalf("error %v does not match ErrInvalidFileName", err)
			}
		})
	}
}

func TestCreateUploadRefusesBadNames(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"../x", "a\x00b", "a\u202Eb", strings.Repeat("x", 10000)} {
		if _, err := e.svc.CreateUpload(e.ctx, "u1", name, 10, nil); !errors.Is(err, ErrInvalidFileName) {
			t.Errorf("CreateUpload(%q) = %v, want ErrInvalidFileName", name, err)
		}
	}
}

func FuzzValidateFileName(f *testing.F) {
	for _, s := range []string{"a.txt", "../a", "a\x00", "\u202e", "..", ".", "a/b", "a\\b", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateFileName(name) != nil {
			return
		}
		// Whatever is accepted is one safe path element.
		switch {
		case name == "" || len(name) > MaxFileNameBytes || !utf8.ValidString(name):
			t.Fatalf("accepted %q: empty, too long or invalid UTF-8", name)
		case strings.ContainsAny(name, "/\\\x00"):
			t.Fatalf("accepted %q with a separator or NUL", name)
		case strings.Trim(name, ".") == "":
			t.Fatalf("accepted all-dot name %q", name)
		case strings.ContainsFunc(name, func(r rune) bool { return isControl(r) || isBidi(r) }):
			t.Fatalf("accepted %q with a control or bidi character", name)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 43))
	f.Add(strings.Repeat("A", 42) + "B")
	f.Fuzz(func(t *testing.T, tok string) {
		hash, ok := ParseToken(tok)
		if !ok {
			return
		}
		if len(tok) != 43 || len(hash) != 64 {
			t.Fatalf("ParseToken(%q) accepted with hash %q", tok, hash)
		}
	})
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"a@example.org", "A@EXAMPLE.ORG", "Bob <b@x.org>", "a@b.c\r\nBcc: x@y.z", "@", "a@[127.0.0.1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		norm, err := NormalizeAddress(addr)
		if err != nil {
			return
		}
		if strings.ContainsAny(norm, "\r\n<>, ") || strings.Count(norm, "@") < 1 || len(norm) > 254 {
			t.Fatalf("NormalizeAddress(%q) accepted %q", addr, norm)
		}
		again, err := NormalizeAddress(norm)
		if err != nil || again != norm {
			t.Fatalf("not idempotent: %q → %q → %q, %v", addr, norm, again, err)
		}
	})
}

func TestFolderOf(t *testing.T) {
	deep := strings.Repeat("d/", MaxFolderDepth+1) + "f.txt"
	for _, tc := range []struct {
		rel, name, want string
		problem         FileNameProblem
		offset          int
	}{
		{rel: "", name: "f.txt", want: ""},
		{rel: "f.txt", name: "f.txt", want: ""},
		{rel: "Rapport/f.txt", name: "f.txt", want: "Rapport"},
		{rel: "Rapport/annexes/été/f.txt", name: "f.txt", want: "Rapport/annexes/été"},
		{rel: strings.Repeat("d/", MaxFolderDepth) + "f.txt", name: "f.txt", want: strings.TrimSuffix(strings.Repeat("d/", MaxFolderDepth), "/")},
		{rel: "Rapport/g.txt", name: "f.txt", problem: NameMismatch, offset: -1},
		{rel: "Rapportf.txt", name: "f.txt", problem: NameMismatch, offset: -1},
		{rel: "../f.txt", name: "f.txt", problem: NameTraversal, offset: 0},
		{rel: "a/../f.txt", name: "f.txt", problem: NameTraversal, offset: 2},
		{rel: "/f.txt", name: "f.txt", problem: NameEmpty, offset: 0},
		{rel: "a//f.txt", name: "f.txt", problem: NameEmpty, offset: 2},
		{rel: "a\\b/f.txt", name: "f.txt", problem: NamePathSeparator, offset: 1},
		{rel: "a/b\u202ec/f.txt", name: "f.txt", problem: NameBidi, offset: 3},
		{rel: "a/b\x01/f.txt", name: "f.txt", problem: NameControl, offset: 3},
		{rel: deep, name: "f.txt", problem: NameTooDeep, offset: -1},
		{rel: strings.Repeat("x", MaxFolderBytes+1) + "/f.txt", name: "f.txt", problem: NameTooLong, offset: -1},
		{rel: strings.Repeat("x", 256) + "/f.txt", name: "f.txt", problem: NameTooLong, offset: 0},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			got, err := FolderOf(tc.rel, tc.name)
			if tc.problem == 0 {
				if err != nil || got != tc.want {
					t.Fatalf("FolderOf(%q, %q) = %q, %v; want %q", tc.rel, tc.name, got, err, tc.want)
				}
				return
			}
			var fe *FileNameError
			if !errors.As(err, &fe) || fe.Problem != tc.problem || fe.Offset != tc.offset {
				t.Fatalf("FolderOf(%q, %q) = %q, %v; want problem %v at %d", tc.rel, tc.name, got, err, tc.problem, tc.offset)
			}
			if !errors.Is(err, ErrInvalidFileName) {
				t.Fatalf("error %v does not match ErrInvalidFileName", err)
			}
		})
	}
}

func TestCreateUploadKeepsFolder(t *testing.T) {
	e := newEnv(t)
	up, err := e.svc.CreateUpload(e.ctx, "u1", "plan.pdf", 10, map[string]string{MetadataRelativePath: "Rapport/annexes/plan.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	if up.Folder != "Rapport/annexes" {
		t.Fatalf("folder %q, want Rapport/annexes", up.Folder)
	}
	if _, err := e.svc.CreateUpload(e.ctx, "u1", "plan.pdf", 10, map[string]string{MetadataRelativePath: "../etc/plan.pdf"}); !errors.Is(err, ErrInvalidFileName) {
		t.Fatalf("CreateUpload with a traversing folder = %v, want ErrInvalidFileName", err)
	}
}

func FuzzFolderOf(f *testing.F) {
	for _, s := range []string{"a/f", "f", "../f", "a//f", "/f", "a\\b/f", "a/./f", "é/f", "a/\u202e/f"} {
		f.Add(s, "f")
	}
	f.Fuzz(func(t *testing.T, rel, name string) {
		if ValidateFileName(name) != nil {
			return
		}
		folder, err := FolderOf(rel, name)
		if err != nil || folder == "" {
			return
		}
		// Whatever is accepted joins back to rel, and is relative elements that stay inside.
		if folder+"/"+name != rel {
			t.Fatalf("FolderOf(%q, %q) = %q: does not join back", rel, name, folder)
		}
		elems := strings.Split(folder, "/")
		if len(elems) > MaxFolderDepth || len(folder) > MaxFolderBytes {
			t.Fatalf("accepted %q beyond the limits", folder)
		}
		for _, e := range elems {
			if ValidateFileName(e) != nil {
				t.Fatalf("accepted element %q of %q", e, folder)
			}
		}
	})
}
