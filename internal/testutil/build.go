package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildGatehouse builds cmd/gatehouse into a new temporary directory, for
// a TestMain whose tests run the real binary (several processes, signals).
// It returns the binary's path and a function that removes it; the go
// command's output goes to stderr.
func BuildGatehouse() (path string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("build gatehouse: %w", err)
	}
	remove = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", path, "github.com/gatehouse-auth/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build gatehouse: %w", err)
	}
	return path, remove, nil
}

// MainWithGatehouse is a TestMain for packages whose tests run the real
// binary: it builds gatehouse, sets *binary to its path, runs the tests,
// removes the binary and exits with the tests' status.
func MainWithGatehouse(m *testing.M, binary *string) {
	path, remove, err := BuildGatehouse()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = path
	code := m.Run()
	remove()
	os.Exit(code)
}
