package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// A SIGHUP reload applies routes only; ChangedKeys names the other
// top-level keys whose values differ, by their names in the file, and
// nothing when only routes (or Load's findings about the file) differ.
func TestChangedKeys(t *testing.T) {
	const base = "routes:\n  - {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:1', auth: none}\n"
	tests := []struct {
		name, yaml string
		mode       os.FileMode
		want       []string
	}{
		{"same file", base, 0o600, nil},
		{"routes only", "routes:\n  - {name: b, match: {path_prefix: /b/}, upstream: 'http://127.0.0.1:2', auth: none}\n", 0o600, nil},
		// A secret in a world-readable file is a warning about the file,
		// not a changed value.
		{"routes and the file's warnings", "routes:\n  - {name: a, match: {path_prefix: /a/}, upstream: 'http://127.0.0.1:1/?key=abc', auth: none}\n", 0o644, nil},
		{"one key", base + "log: {level: debug}\n", 0o600, []string{"log"}},
		{"keys in file order", "public_url: 'http://localhost:9'\n" + base + "log: {level: debug}\n", 0o600, []string{"public_url", "log"}},
	}
	running := loadWithMode(t, base, 0o600)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := loadWithMode(t, tt.yaml, tt.mode)
			if tt.mode != 0o600 && slices.Equal(next.Warnings(), running.Warnings()) {
				t.Fatalf("the %o file brought no warning of its own: %q", tt.mode, next.Warnings())
			}
			if got := running.ChangedKeys(next); !slices.Equal(got, tt.want) {
				t.Fatalf("ChangedKeys = %q, want %q", got, tt.want)
			}
		})
	}
}

// loadWithMode reads yaml from a file with mode, as serve and its reload do.
func loadWithMode(t *testing.T, yaml string, mode os.FileMode) config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(yaml), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}
