package logkey_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestKeysUnique checks that no two keys share a value and that each is snake_case, so that one
// name means one thing in every record (issue 17 item 5).
func TestKeysUnique(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "logkey.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]string{}
	for _, name := range constValues(f) {
		lit, ok := name.value.(*ast.BasicLit)
		if !ok {
			t.Errorf("%s is not a string literal", name.name)
			continue
		}
		v, _ := strconv.Unquote(lit.Value)
		if !snake.MatchString(v) {
			t.Errorf("%s = %q: keys are snake_case", name.name, v)
		}
		if other, dup := seen[v]; dup {
			t.Errorf("%s and %s are both %q", other, name.name, v)
		}
		seen[v] = name.name
	}
	if len(seen) == 0 {
		t.Fatal("no key found in logkey.go")
	}
}

// TestLogFilesUseLogkey checks that every package's log.go takes its keys from here rather than
// spelling its own (issue 17 item 5, "one set of log keys").
func TestLogFilesUseLogkey(t *testing.T) {
	n := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "log.go" {
			return err
		}
		n++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, c := range constValues(f) {
			sel, ok := c.value.(*ast.SelectorExpr)
			if ok {
				x, isIdent := sel.X.(*ast.Ident)
				ok = isIdent && x.Name == "logkey"
			}
			if !ok {
				t.Errorf("%s: %s is not a logkey constant: add the key to internal/logkey", path, c.name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no log.go found in the module")
	}
}

type constValue struct {
	name  string
	value ast.Expr
}

// constValues returns every constant declared in f with its value.
func constValues(f *ast.File) []constValue {
	var out []constValue
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if i < len(vs.Values) {
					out = append(out, constValue{id.Name, vs.Values[i]})
				}
			}
		}
	}
	return out
}
