package audit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

// Types is the closed list of event types: every string constant the
// package declares (each one an event type) is in it, once, and KnownType
// answers for exactly those. `gatehouse audit --type` refuses any other.
func TestTypesListsEveryEventConstant(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						declared = append(declared, s)
					}
				}
			}
		}
	}
	types := audit.Types()
	if len(declared) < 25 {
		t.Fatalf("found only %d event constants: %v", len(declared), declared)
	}
	for _, typ := range declared {
		if !slices.Contains(types, typ) || !audit.KnownType(typ) {
			t.Errorf("event type %q is declared but not in Types()", typ)
		}
	}
	if len(types) != len(declared) {
		t.Errorf("Types() has %d entries, the package declares %d event types: %v", len(types), len(declared), types)
	}
	for _, typ := range []string{"", "login", "LOGIN.OK", "login.ok ", "user.removed"} {
		if audit.KnownType(typ) {
			t.Errorf("KnownType(%q) = true", typ)
		}
	}
}
