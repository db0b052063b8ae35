package depstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing, so that a test can check
// that a broken rule fails.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.fatal = true
}

// TestBrokenRuleFails proves each kind of rule fails on a package that breaks it, and that the
// message names the import and, for one reached through another package, the chain (issue 17
// item 5: a rule that cannot fail checks nothing).
func TestBrokenRuleFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkg  string
		rule Rule
		want []string // substrings of the messages, one per expected failure
	}{
		{"deny names a direct import", "valise/httpd/uploads",
			Rule{Deny: map[string]string{"valise/transfer": "why"}},
			[]string{"valise/httpd/uploads imports valise/transfer (directly): why"}},
		{"deny transitive names the chain", "valise/httpd/uploads",
			Rule{Deny: map[string]string{"valise/raftfsm/...": "no store"}},
			[]string{"valise/httpd/uploads imports valise/raftfsm (via valise/account): no store"}},
		{"deny direct ignores a transitive import", "valise/httpd/uploads",
			Rule{DenyDirect: map[string]string{"valise/raftfsm": "no store"}},
			nil},
		{"deny direct names the import", "valise/httpd/uploads",
			Rule{DenyDirect: map[string]string{"valise/httpd/tus/...": "why"}},
			[]string{"valise/httpd/uploads imports valise/httpd/tus: why"}},
		{"allow list", "valise/httpd/uploads",
			Rule{Allow: []string{"valise/upload", "valise/transfer", "valise/account", "github.com/valyala/fasthttp"}, AllowWhy: "not tus"},
			[]string{"valise/httpd/uploads imports valise/httpd/tus: not tus"}},
		{"empty allow list is standard library only", "valise/transfer/transfertest",
			Rule{Allow: []string{}, AllowWhy: "stdlib only"},
			[]string{"imports golang.org/x/crypto/argon2: stdlib only"}},
		{"except exempts from deny", "valise/httpd/uploads",
			Rule{Deny: map[string]string{"valise/...": "why"}, Except: []string{"valise/upload", "valise/transfer", "valise/account", "valise/internal/..."}},
			[]string{"valise/httpd/uploads imports valise/blobstore (via valise/transfer)",
				"valise/httpd/uploads imports valise/fault (via valise/account)",
				"valise/httpd/uploads imports valise/httpd/tus (directly)",
				"valise/httpd/uploads imports valise/notify (via valise/transfer)",
				"valise/httpd/uploads imports valise/raftfsm (via valise/account)",
				"valise/httpd/uploads imports valise/scan (via valise/transfer)"}},
		{"standard library is always allowed", "valise/internal/depstest",
			Rule{Allow: []string{}},
			nil},
		{"pattern with /... matches below", "valise/node",
			Rule{Deny: map[string]string{"valise/httpd/tus/...": "why"}},
			[]string{"valise/node imports valise/httpd/tus (directly): why"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			CheckPackage(r, tc.pkg, tc.rule)
			if r.fatal {
				t.Fatalf("check failed to run: %v", r.errs)
			}
			if len(r.errs) != len(tc.want) {
				t.Fatalf("got %d failures %q, want %d like %q", len(r.errs), r.errs, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(r.errs[i], w) {
					t.Errorf("failure %d = %q, want it to contain %q", i, r.errs[i], w)
				}
			}
		})
	}
}

// TestMissingGoFails checks that without the go command the rule fails, saying why, rather
// than passing on an empty import graph.
func TestMissingGoFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := &recorder{TB: t}
	Check(r, Rule{})
	if !r.fatal || len(r.errs) != 1 || !strings.Contains(r.errs[0], "go command must be on PATH") {
		t.Fatalf("check without go = %q, want one fatal failure naming the go command", r.errs)
	}
}

// TestMissingPackageFails proves that a rule cannot pass by checking nothing: a package go list
// cannot load fails the test.
func TestMissingPackageFails(t *testing.T) {
	r := &recorder{TB: t}
	CheckPackage(r, "valise/no/such/package", Rule{})
	if !r.fatal {
		t.Fatalf("checking a missing package did not fail: %v", r.errs)
	}
}

// TestEveryPackageHasTestDeps checks that every package of the module has a test named TestDeps
// that calls this helper (issue 17 item 5, "every package's dependency rule runs through the one
// helper").
func TestEveryPackageHasTestDeps(t *testing.T) {
	goBin, err := goCommand()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(goBin, "list", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles", "valise/...").Output()
	if err != nil {
		t.Fatalf("go list valise/...: %v", err)
	}
	testDeps := regexp.MustCompile(`(?m)^func TestDeps\(t \*testing\.T\) \{\n\tdepstest\.Check\(t,`)
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath, Dir           string
			TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		found := false
		for _, f := range append(p.TestGoFiles, p.XTestGoFiles...) {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			found = found || testDeps.Match(src)
		}
		if !found {
			t.Errorf("%s has no TestDeps calling depstest.Check: add a deps_test.go with its rule", p.ImportPath)
		}
	}
	if n < 20 {
		t.Fatalf("go list valise/... named %d packages; expected the whole module", n)
	}
}
