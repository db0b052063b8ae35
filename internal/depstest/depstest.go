// Package depstest checks a package's imports against its dependency rule with `go list -deps`,
// so that an import reached through another package counts as much as a direct one (issue 17
// item 5). Every package in the module calls it from a test named TestDeps; the direction it
// guards is docs/style.md §1: cmd → node → httpd → domain → raftfsm, blobstore. It is for tests;
// production code never imports it.
package depstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Rule is one package's dependency rule. A pattern is an import path, matched exactly, or a
// path ending in "/..." that matches the path and everything below it ("valise/httpd/..."
// matches valise/httpd and valise/httpd/api). Each pattern maps to the reason for the rule,
// printed when it breaks.
type Rule struct {
	// Deny lists packages that must not appear anywhere in the package's import graph, directly
	// or through another package.
	Deny map[string]string
	// Except lists packages exempt from Deny: the leaf helpers any layer may use (valise/internal/
	// logkey under a rule that denies valise/...).
	Except []string
	// DenyDirect lists packages the package must not import itself, though a lower package it
	// calls may (httpd reaches the stores only through the domain packages).
	DenyDirect map[string]string
	// Allow, when not nil, lists the only packages outside the standard library that the
	// package may import directly; AllowWhy says why. The module's own packages count as
	// outside the standard library.
	Allow    []string
	AllowWhy string
}

// Check runs `go list -deps` on the package in the current directory (a test's package) and
// fails t once for each import that breaks rule.
func Check(t testing.TB, rule Rule) {
	t.Helper()
	CheckPackage(t, ".", rule)
}

// CheckPackage is Check for the package named by pattern (an import path or a directory).
func CheckPackage(t testing.TB, pattern string, rule Rule) {
	t.Helper()
	g, err := load(pattern)
	if err != nil {
		t.Fatalf("depstest: %v", err)
		return
	}
	for _, msg := range g.violations(rule) {
		t.Errorf("%s", msg)
	}
}

// pkg is the part of `go list -json` output the rules need.
type pkg struct {
	ImportPath string
	Standard   bool
	DepOnly    bool
	Imports    []string
}

// graph is a package and its whole import graph.
type graph struct {
	root string
	pkgs map[string]*pkg
}

// goCommand returns the go command on PATH, or an error saying that the rules need it.
func goCommand() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command must be on PATH to run go list -deps: %w", err)
	}
	return goBin, nil
}

func load(pattern string) (*graph, error) {
	goBin, err := goCommand()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Standard,DepOnly,Imports", pattern)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list -deps %s: %w\n%s", pattern, err, stderr.Bytes())
	}
	g := &graph{pkgs: map[string]*pkg{}}
	dec := json.NewDecoder(&stdout)
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list -deps %s: %w", pattern, err)
		}
		g.pkgs[p.ImportPath] = &p
		if !p.DepOnly {
			if g.root != "" {
				return nil, fmt.Errorf("go list -deps %s: names %s and %s; check one package at a time", pattern, g.root, p.ImportPath)
			}
			g.root = p.ImportPath
		}
	}
	if g.root == "" {
		return nil, fmt.Errorf("go list -deps %s: no package", pattern)
	}
	return g, nil
}

// match reports whether path matches pattern (see Rule).
func match(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	}
	return path == pattern
}

// matchAny reports whether one of paths matches one of patterns.
func matchAny(patterns []string, paths ...string) bool {
	for _, pat := range patterns {
		for _, path := range paths {
			if match(pat, path) {
				return true
			}
		}
	}
	return false
}

// violations returns one message per broken rule, sorted.
func (g *graph) violations(rule Rule) []string {
	var out []string
	root := g.pkgs[g.root]
	for _, imp := range root.Imports {
		for pat, why := range rule.DenyDirect {
			if match(pat, imp) {
				out = append(out, fmt.Sprintf("%s imports %s: %s", g.root, imp, why))
			}
		}
		if rule.Allow == nil || g.pkgs[imp] != nil && g.pkgs[imp].Standard {
			continue
		}
		if !matchAny(rule.Allow, imp) {
			out = append(out, fmt.Sprintf("%s imports %s: %s", g.root, imp, rule.AllowWhy))
		}
	}
	for path := range g.pkgs {
		if path == g.root || matchAny(rule.Except, path) {
			continue
		}
		for pat, why := range rule.Deny {
			if !match(pat, path) {
				continue
			}
			via := g.chain(path)
			if slices.ContainsFunc(via, func(v string) bool { return match(pat, v) && !matchAny(rule.Except, v) }) {
				continue // reached through another denied package: that one is reported
			}
			how := "directly"
			if len(via) > 0 {
				how = "via " + strings.Join(via, " → ")
			}
			out = append(out, fmt.Sprintf("%s imports %s (%s): %s", g.root, path, how, why))
		}
	}
	sort.Strings(out)
	return out
}

// chain returns the packages between the root and path on the shortest import chain, for a
// message that says where a transitive import comes from: none for a direct import.
func (g *graph) chain(path string) []string {
	prev := map[string]string{g.root: ""}
	queue := []string{g.root}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == path {
			break
		}
		for _, next := range g.pkgs[cur].Imports {
			if _, seen := prev[next]; !seen && g.pkgs[next] != nil {
				prev[next] = cur
				queue = append(queue, next)
			}
		}
	}
	var steps []string
	for p := prev[path]; p != "" && p != g.root; p = prev[p] {
		steps = append(steps, p)
	}
	slices.Reverse(steps)
	return steps
}
