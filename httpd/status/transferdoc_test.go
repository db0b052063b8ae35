package status_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"valise/httpd/status"
	"valise/transfer"
)

// TestTransferDocTable checks the status table in transfer/doc.go against the real one: every
// sentinel declared in transfer/api.go is listed once, under the status its kind maps to
// (issue 17 item 2).
func TestTransferDocTable(t *testing.T) {
	names := sentinelNames(t, "../../transfer/api.go")
	sentinels := transfer.Sentinels()
	if len(names) != len(sentinels) {
		t.Fatalf("transfer/api.go declares %d fault sentinels, transfer.Sentinels lists %d", len(names), len(sentinels))
	}
	want := map[string]int{} // sentinel name → status
	for i, s := range sentinels {
		if s.Code() != names[i].code {
			t.Fatalf("transfer.Sentinels()[%d] has code %q, api.go's %s has %q: keep them in the same order", i, s.Code(), names[i].name, names[i].code)
		}
		want[names[i].name] = status.Of(s.Kind())
	}

	doc, err := os.ReadFile("../../transfer/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^//\t(\d{3}) (Err\w+(?:, Err\w+)*)$`)
	got := map[string]int{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		code, _ := strconv.Atoi(m[1])
		for _, name := range strings.Split(m[2], ", ") {
			if prev, dup := got[name]; dup {
				t.Errorf("doc.go lists %s under %d and %d", name, prev, code)
			}
			got[name] = code
		}
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("doc.go's status table misses %s (%d)", name, w)
		case g != w:
			t.Errorf("doc.go lists %s under %d; its kind answers %d", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("doc.go's status table lists %s, which api.go does not declare", name)
		}
	}
}

type sentinel struct{ name, code string }

// sentinelNames returns the sentinels path declares with fault.New, in order.
func sentinelNames(t *testing.T, path string) []sentinel {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []sentinel
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok || len(call.Args) != 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "New" || !isIdent(sel.X, "fault") {
			return true
		}
		lit, ok := call.Args[1].(*ast.BasicLit)
		if !ok {
			t.Fatalf("%s: the code of %s is not a literal", path, vs.Names[0].Name)
		}
		code, _ := strconv.Unquote(lit.Value)
		out = append(out, sentinel{vs.Names[0].Name, code})
		return true
	})
	if !slices.ContainsFunc(out, func(s sentinel) bool { return s.name == "ErrLinkNotFound" }) {
		t.Fatalf("found no sentinels in %s", path)
	}
	return out
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
