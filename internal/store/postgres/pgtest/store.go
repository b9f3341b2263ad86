package pgtest

import (
	"context"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
)

// New returns a migrated store on a fresh database of its own
// (MigratedDSN).
func New(t testing.TB) *postgres.Store {
	t.Helper()
	return Open(t, MigratedDSN(t))
}

// Open opens and migrates a store on dsn, closed at the test's cleanup;
// several calls on one dsn are several instances sharing a database.
func Open(t testing.TB, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate postgres: %v", err)
	}
	return s
}
