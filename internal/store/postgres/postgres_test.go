package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb/sqldbtest"
)

// newStore opens a migrated store on a fresh schema.
func newStore(t testing.TB) *postgres.Store {
	t.Helper()
	return openMigrated(t, pgtest.DSN(t))
}

// openMigrated opens a store on dsn, closes it at cleanup and migrates it.
func openMigrated(t testing.TB, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	sqldbtest.RunStoreTests(t, func(t *testing.T) sqldbtest.Store { return newStore(t) })
}

// TestDeadServerIsUnavailable: Open does not connect, so a store on a port
// where nothing listens opens, and every call then fails closed.
func TestDeadServerIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable")
	if err != nil {
		t.Fatalf("Open(dead port): %v", err)
	}
	defer s.Close()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"UserByID", func() error { _, err := s.UserByID(ctx, "u1"); return err }},
		{"Session", func() error { _, err := s.Session(ctx, "s1"); return err }},
		{"CreateSession", func() error { return s.CreateSession(ctx, session.Record{ID: "s1", UserID: "u1"}) }},
		{"RotateRefresh", func() error {
			_, err := s.RotateRefresh(ctx, "h", time.Now(), token.Refresh{Hash: "n"})
			return err
		}},
		{"Migrate", func() error { return s.Migrate(ctx) }},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("%s error = %v, want ErrUnavailable", tt.name, err)
			}
		})
	}
}

func TestOpenRejectsMalformedDSN(t *testing.T) {
	if _, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:notaport/test"); !errors.Is(err, auth.ErrInvalidInput) {
		t.Fatalf("Open(bad port) error = %v, want ErrInvalidInput", err)
	}
}

// TestConcurrentMigrate starts two instances on one fresh schema at once:
// the advisory lock makes one wait for the other instead of failing.
func TestConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	errs := make(chan error, 2)
	for range 2 {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		go func() { errs <- s.Migrate(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Migrate: %v", err)
		}
	}
}

// TestPGTestSchemasAreSeparate checks the helper other packages rely on: two
// DSNs see different data.
func TestPGTestSchemasAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := newStore(t), newStore(t)
	if err := a.CreateUser(ctx, auth.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := b.UserByID(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("other schema UserByID error = %v, want ErrNotFound", err)
	}
}

// TestStoreThroughPgBouncer runs the whole conformance suite through
// PgBouncer in transaction pooling, migrating over the direct connection
// (store_migrate). With pgx's default server-side prepared statements
// (default_query_exec_mode=cache_statement) it fails as soon as PgBouncer
// hands a statement to another server connection.
func TestStoreThroughPgBouncer(t *testing.T) {
	sqldbtest.RunStoreTests(t, func(t *testing.T) sqldbtest.Store {
		pooled, direct := pgtest.BouncerDSN(t)
		return openMigrated(t, pooled, postgres.WithMigrateDSN(direct))
	})
}

// PostgreSQL refuses text that is not UTF-8, which a form or a URL can
// carry as bytes. Such a request is bad input (400), not a server error
// (500) and not a store outage (503).
func TestNonUTF8TextIsInvalidInput(t *testing.T) {
	s := newStore(t)
	_, err := s.UserByName(context.Background(), "al\xffice")
	if !errors.Is(err, auth.ErrInvalidInput) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("UserByName(non-UTF-8) error = %v, want ErrInvalidInput", err)
	}
}
