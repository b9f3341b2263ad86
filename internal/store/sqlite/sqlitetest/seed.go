package sqlitetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

// Seed writes a freshly migrated, empty database file to path (mode 0600,
// as sqlite.Open creates one) unless a file is already there; Migrate on
// it then finds nothing to do. The schema is built once per test binary by
// sqlite.Open and Migrate, the code every gatehouse runs on a new file, and
// copied from then on: goose parses each migration file line by line with
// a 4 MiB buffer per line that the race detector's sync.Pool keeps
// dropping, so migrating costs about 250 ms under -race and copying well
// under one. Tests of migrating itself open a file without Seed.
func Seed(t testing.TB, path string) {
	t.Helper()
	schema, err := migratedSchema()
	if err != nil {
		t.Fatalf("build the migrated SQLite template: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return
	}
	if err != nil {
		t.Fatalf("seed %s: %v", path, err)
	}
	_, err = f.Write(schema)
	if err = errors.Join(err, f.Close()); err != nil {
		t.Fatalf("seed %s: %v", path, err)
	}
}

// migratedSchema is the bytes of a migrated, empty database, built on
// first use.
var migratedSchema = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-sqlite-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+path)
	if err != nil {
		return nil, err
	}
	err = s.Migrate(ctx)
	// Closing the last connection checkpoints the WAL into the main file
	// and removes it, so the main file alone is the whole database.
	if err = errors.Join(err, s.Close()); err != nil {
		return nil, err
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() > 0 {
		return nil, fmt.Errorf("%s-wal still holds %d bytes after close", path, wal.Size())
	}
	return os.ReadFile(path)
})
