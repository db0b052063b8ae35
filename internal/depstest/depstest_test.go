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
	// The fixture packages under testdata/fixture have a fixed import graph: top imports mid
	// and valise/fault; mid imports leaf and golang.org/x/text/language; leaf only the
	// standard library. Real packages' imports change with the code; these do not.
	const f = "valise/internal/depstest/testdata/fixture"
	for _, tc := range []struct {
		name string
		pkg  string
		rule Rule
		want []string // substrings of the messages, one per expected failure
	}{
		{"deny names a direct import", f + "/top",
			Rule{Deny: map[string]string{f + "/mid": "why"}},
			[]string{f + "/top imports " + f + "/mid (directly): why"}},
		{"deny transitive names the chain", f + "/top",
			Rule{Deny: map[string]string{f + "/leaf/...": "no leaf"}},
			[]string{f + "/top imports " + f + "/leaf (via " + f + "/mid): no leaf"}},
		{"deny direct ignores a transitive import", f + "/top",
			Rule{DenyDirect: map[string]string{f + "/leaf": "no leaf"}},
			nil},
		{"deny direct names the import", f + "/top",
			Rule{DenyDirect: map[string]string{f + "/mid/...": "why"}},
			[]string{f + "/top imports " + f + "/mid: why"}},
		{"allow list", f + "/top",
			Rule{Allow: []string{f + "/mid"}, AllowWhy: "only mid"},
			[]string{f + "/top imports valise/fault: only mid"}},
		{"empty allow list is standard library only", f + "/mid",
			Rule{Allow: []string{}, AllowWhy: "stdlib only"},
			[]string{"imports golang.org/x/text/language: stdlib only", "imports " + f + "/leaf: stdlib only"}},
		{"except exempts from deny", f + "/top",
			Rule{Deny: map[string]string{"valise/...": "why"}, Except: []string{f + "/mid"}},
			[]string{f + "/top imports valise/fault (directly)",
				f + "/top imports " + f + "/leaf (via " + f + "/mid)"}},
		{"standard library is always allowed", f + "/leaf",
			Rule{Allow: []string{}},
			nil},
		{"pattern with /... matches the path itself", f + "/top",
			Rule{Deny: map[string]string{"valise/fault/...": "why"}},
			[]string{f + "/top imports valise/fault (directly): why"}},
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
