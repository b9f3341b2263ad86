package archtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-auth/gatehouse"

// pkg is the part of `go list -json` the check needs.
type pkg struct {
	ImportPath string
	Imports    []string // production files only (no _test.go)
}

// row is one line of a package table in docs/architecture.md.
type row struct {
	mayImport   []string
	testSupport bool
}

func TestPackagesImportOnlyWhatTheMapAllows(t *testing.T) {
	root := moduleRoot(t)
	rows := readMap(t, filepath.Join(root, "docs", "architecture.md"))
	for _, p := range listPackages(t, root) {
		name := shortName(p.ImportPath)
		r, ok := rows[name]
		if !ok {
			t.Errorf("package %s is not in docs/architecture.md: add a row (what it owns, what it may import)", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := shortName(imp)
			if !slices.Contains(r.mayImport, dep) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow (may import: %s)",
					name, dep, strings.Join(r.mayImport, ", "))
			}
			if d, ok := rows[dep]; ok && d.testSupport && !r.testSupport {
				t.Errorf("production package %s imports test support %s", name, dep)
			}
		}
	}
}

// moduleRoot is the directory of go.mod, found from this package's directory
// (go test runs in it).
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func listPackages(t *testing.T, root string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// shortName is the name the map uses: the path under internal/, or the
// path under the module for cmd/….
func shortName(importPath string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	return strings.TrimPrefix(rel, "internal/")
}

var (
	cell     = regexp.MustCompile("`([^`]+)`")
	heading  = regexp.MustCompile(`^#+\s+(.*)$`)
	tableRow = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|[^|]*\\|([^|]*)\\|\\s*$")
)

// readMap parses every package table: first column the package, last column
// the backquoted packages it may import ("—" for none). Rows under the
// "Test support" heading are test support.
func readMap(t *testing.T, path string) map[string]row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]row{}
	testSupport := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			testSupport = strings.EqualFold(strings.TrimSpace(m[1]), "test support")
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := row{testSupport: testSupport, mayImport: []string{}}
		for _, c := range cell.FindAllStringSubmatch(m[2], -1) {
			r.mayImport = append(r.mayImport, c[1])
		}
		if _, dup := rows[m[1]]; dup {
			t.Errorf("docs/architecture.md lists %s twice", m[1])
		}
		rows[m[1]] = r
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no package table found in docs/architecture.md")
	}
	return rows
}
