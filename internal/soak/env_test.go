package soak

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeGatehouse is a stand-in binary that writes its environment to
// dir/env-<first argument> and exits.
func fakeGatehouse(t *testing.T) (binary, dir string) {
	t.Helper()
	dir = t.TempDir()
	binary = filepath.Join(dir, "gatehouse")
	script := "#!/bin/sh\nenv > \"$(dirname \"$0\")/env-$1\"\n"
	if err := os.WriteFile(binary, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return binary, dir
}

// readEnv returns the GATEHOUSE_* lines of the environment the fake wrote.
func readEnv(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake gatehouse did not run: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "GATEHOUSE_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// The run's CLI calls and instances get the run's own configuration only:
// an operator's GATEHOUSE_STORE (or any other GATEHOUSE_* override) would
// send the soak users, migrations and load to the database it names — their
// real one — instead of the private PostgreSQL, and other overrides would
// change what the run tests.
func TestChildrenIgnoreOperatorEnv(t *testing.T) {
	t.Setenv("GATEHOUSE_STORE", "postgres://prod.example/real")
	t.Setenv("GATEHOUSE_SESSIONS_CACHE_TTL", "1h")
	binary, dir := fakeGatehouse(t)
	e := &env{dir: dir, binary: binary, cfgFile: filepath.Join(dir, "gatehouse.yaml"), log: t.Logf}

	if err := e.cli("", "migrate"); err != nil {
		t.Fatalf("cli: %v", err)
	}
	if got := readEnv(t, filepath.Join(dir, "env-migrate")); strings.Contains(got, "GATEHOUSE_STORE") ||
		strings.Contains(got, "GATEHOUSE_SESSIONS_CACHE_TTL") {
		t.Errorf("gatehouse migrate got the operator's GATEHOUSE_* variables:\n%s", got)
	}

	i := &instance{name: "gatehouse-1", listen: "127.0.0.1:1", admin: "127.0.0.1:2"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.start(ctx, i) // the fake never becomes ready
	<-i.done
	got := readEnv(t, filepath.Join(dir, "env-serve"))
	if strings.Contains(got, "GATEHOUSE_STORE") || strings.Contains(got, "GATEHOUSE_SESSIONS_CACHE_TTL") {
		t.Errorf("gatehouse serve got the operator's GATEHOUSE_* variables:\n%s", got)
	}
	if !strings.Contains(got, "GATEHOUSE_LISTEN=127.0.0.1:1") {
		t.Errorf("gatehouse serve lost its own GATEHOUSE_LISTEN:\n%s", got)
	}
}
