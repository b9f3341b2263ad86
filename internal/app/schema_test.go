package app_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb"
)

// serve --no-migrate (Options.Migrate false) leaves migrations to gatehouse
// migrate. Starting before they ran must fail at once with what to do,
// instead of serving and failing every request on missing tables; a store
// already migrated starts.
func TestStartWithoutMigrateNeedsAMigratedStore(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Store = "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	quiet := slog.New(slog.DiscardHandler)

	a, err := app.New(ctx, cfg, quiet, app.Options{})
	if err == nil {
		a.Close()
		t.Fatal("New without migrating on an empty store succeeded, want sqldb.ErrSchemaBehind")
	}
	if !errors.Is(err, sqldb.ErrSchemaBehind) {
		t.Fatalf("New without migrating on an empty store error = %v, want sqldb.ErrSchemaBehind", err)
	}

	migrated, err := app.New(ctx, cfg, quiet, app.Options{Migrate: true})
	if err != nil {
		t.Fatalf("New with migrations: %v", err)
	}
	migrated.Close()
	a, err = app.New(ctx, cfg, quiet, app.Options{})
	if err != nil {
		t.Fatalf("New without migrating on a migrated store: %v", err)
	}
	// A newer gatehouse migrates the store further (a rolling upgrade); this
	// one restarting must not serve on a schema it does not know.
	if _, err := a.Store.(interface{ DB() *sql.DB }).DB().ExecContext(ctx,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (100000, 1)`); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for _, migrate := range []bool{false, true} {
		a, err = app.New(ctx, cfg, quiet, app.Options{Migrate: migrate})
		if err == nil {
			a.Close()
		}
		if !errors.Is(err, sqldb.ErrSchemaNewer) {
			t.Errorf("New (migrate %v) on a newer schema error = %v, want sqldb.ErrSchemaNewer", migrate, err)
		}
	}
}
