package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	"github.com/jackc/pgx/v5"
)

// MigratedDSN creates a fresh database gh_<random hex>, a copy of one that
// postgres.Migrate migrated (CREATE DATABASE … TEMPLATE), and returns a DSN
// on it; the database is dropped in t.Cleanup (close stores opened on it in
// a cleanup registered later). Migrate on it finds nothing to do. Copying
// takes tens of milliseconds; migrating a new schema costs about 250 ms of
// the test's CPU under -race (goose's parser takes a 4 MiB buffer per line
// from a sync.Pool the race detector keeps emptying) and the server's DDL.
// Tests about migrating use DSN.
func MigratedDSN(t testing.TB) string {
	t.Helper()
	base := baseDSN()
	name := "gh_" + randomHex(t)
	return copyTemplate(t, base, name, "")
}

// MigratedBouncerDSN is BouncerDSN on a fresh copy of the migrated
// template (see MigratedDSN): a role gh_<random hex> owns the database
// and its tables; the pooled DSN goes through PgBouncer, the direct one
// (for migrations) does not. Both are dropped in t.Cleanup.
func MigratedBouncerDSN(t testing.TB) (pooled, direct string) {
	t.Helper()
	base := DefaultDSN
	name := "gh_" + randomHex(t)
	Exec(t, base, "CREATE ROLE "+name+" LOGIN")
	t.Cleanup(func() { Exec(t, base, "DROP ROLE IF EXISTS "+name) })
	owned := copyTemplate(t, base, name, name)
	// The copy's tables belong to the template's owner: give them to the
	// role, as a schema it migrated itself would be.
	Exec(t, owned, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
			EXECUTE format('ALTER TABLE public.%I OWNER TO %I', r.tablename, '`+name+`');
		END LOOP; END $$`)
	return asRole(t, owned, name)
}

// copyTemplate creates database name from the migrated template (owned by
// owner unless empty), dropped in t.Cleanup, and returns base's DSN on it.
func copyTemplate(t testing.TB, base, name, owner string) string {
	t.Helper()
	tmpl, err := migratedTemplate(base)
	if err != nil {
		t.Fatalf("pgtest: migrated template database: %v", err)
	}
	stmt := "CREATE DATABASE " + name + " TEMPLATE " + tmpl
	if owner != "" {
		stmt += " OWNER " + owner
	}
	Exec(t, base, stmt)
	t.Cleanup(func() { Exec(t, base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// templates holds, per base DSN, the name of the template database of this
// binary's migrations, built on first use (buildTemplate).
var templates sync.Map // base DSN -> func() (string, error)

func migratedTemplate(base string) (string, error) {
	once, _ := templates.LoadOrStore(base, sync.OnceValues(func() (string, error) {
		name, err := templateName(postgres.Migrations())
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return name, buildTemplate(ctx, base, name)
	}))
	return once.(func() (string, error))()
}

// templateName names the template after the content of the migrations, so
// that test binaries of one checkout share it (also from one run to the
// next) and a checkout with other migrations gets its own.
func templateName(migrations fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return "gh_template_" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// buildTemplate creates and migrates database name unless a finished one
// is there. Processes take turns under an advisory lock; the database is
// marked IS_TEMPLATE only once fully migrated, so one that a killed
// process left half-built is dropped and built again.
func buildTemplate(ctx context.Context, base, name string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to test PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('gatehouse pgtest template'))"); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Closing the connection releases the lock too.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('gatehouse pgtest template'))")
	var done bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&done)
	switch {
	case err == nil && done:
		return nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look up %s: %w", name, err)
	}
	for _, stmt := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	dsn, err := withDatabase(base, name)
	if err != nil {
		return err
	}
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	err = s.Migrate(ctx)
	if err = errors.Join(err, s.Close()); err != nil {
		return fmt.Errorf("migrate %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" IS_TEMPLATE true"); err != nil {
		return fmt.Errorf("mark %s a template: %w", name, err)
	}
	return nil
}

// withDatabase is dsn on database name.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", dsn, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}
