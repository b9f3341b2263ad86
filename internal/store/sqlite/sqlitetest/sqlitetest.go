// Package sqlitetest opens real, migrated SQLite stores for tests, closed at
// the test's cleanup.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
)

// New returns a migrated store in a fresh file of the test's own.
func New(t testing.TB) *sqlite.Store {
	t.Helper()
	return Open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
}

// Open opens (seeding if needed, see Seed) and migrates the SQLite file at
// path; several calls on one path are several instances sharing a database.
func Open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	Seed(t, path)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
