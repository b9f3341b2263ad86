package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/fuzz.sh (make fuzz) lists each package's targets with `go test
// -list`; a package whose tests do not compile has targets it cannot list,
// and must fail the run, naming the package, rather than count as a package
// without targets ("ran 0 targets", exit 0).
func TestFuzzScriptFailsOnATestThatDoesNotCompile(t *testing.T) {
	script, err := filepath.Abs("../../scripts/fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":        "module fuzzcheck\n\ngo 1.26\n",
		"p/p.go":        "package p\n\nfunc F() int { return 1 }\n",
		"p/p_test.go":   "package p\n\nimport \"testing\"\n\nfunc FuzzF(f *testing.F) { f.Fuzz(func(*testing.T, string) { _ = notDeclared }) }\n",
		"ok/ok.go":      "package ok\n",
		"ok/ok_test.go": "package ok\n\nimport \"testing\"\n\nfunc TestOK(*testing.T) {}\n",
	} {
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), "sh", script, "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "FUZZTIME=1s", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "FAILED: fuzzcheck/p") || strings.Contains(string(out), "fuzzcheck/ok") {
		t.Errorf("fuzz.sh on a package whose test does not compile: %v, want a failure naming fuzzcheck/p alone\n%s", err, out)
	}
}
