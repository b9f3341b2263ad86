package sqlitetest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// A seeded file is what sqlite.Open and Migrate build on a new file: owner
// only, at the newest schema version, with nothing left for Migrate to do.
func TestSeedWritesTheMigratedSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	sqlitetest.Seed(t, path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("seeded file mode = %o, want 600", mode)
	}
	s, err := sqlite.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	current, latest, err := s.MigrationVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if current != latest || latest == 0 {
		t.Errorf("seeded schema version = %d, want the latest, %d", current, latest)
	}
	if err := s.CheckSchema(context.Background()); err != nil {
		t.Errorf("CheckSchema on a seeded file: %v", err)
	}
}

// Seed never overwrites a file that is there: several instances share one.
func TestSeedLeavesAnExistingFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	sqlitetest.Seed(t, path)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "not a database" {
		t.Errorf("Seed replaced an existing file (%d bytes now)", len(got))
	}
}
