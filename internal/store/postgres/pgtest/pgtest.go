package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the test database of DEVELOPERS.md; the environment variable
// GATEHOUSE_TEST_POSTGRES overrides it.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN creates a fresh schema gh_<random hex> in the test database and
// returns a DSN whose search_path is that schema. The schema is dropped in
// t.Cleanup. Close stores opened on the DSN in a cleanup registered after
// calling DSN (cleanups run last-in first-out). A database that does not
// answer fails the test.
func DSN(t testing.TB) string {
	t.Helper()
	base := baseDSN()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse GATEHOUSE_TEST_POSTGRES: %v", err)
	}
	schema := "gh_" + randomHex(t)
	Exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { Exec(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// baseDSN is the test database: GATEHOUSE_TEST_POSTGRES, else DefaultDSN.
func baseDSN() string {
	if dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// BouncerAddr is the test PgBouncer (transaction pooling) that
// scripts/services.sh starts in front of the test database.
const BouncerAddr = "127.0.0.1:6432"

// BouncerDSN creates a fresh schema and a role of the same name whose
// search_path is that schema, and returns a DSN through PgBouncer and a
// direct one (for migrations) as that role. In transaction pooling a
// search_path in the DSN would not survive (PgBouncer shares server
// connections), so the schema is the role's default instead; PgBouncer
// keeps one pool per role. Both are dropped in t.Cleanup.
func BouncerDSN(t testing.TB) (pooled, direct string) {
	t.Helper()
	base := DefaultDSN
	name := "gh_" + randomHex(t)
	Exec(t, base, "CREATE ROLE "+name+" LOGIN")
	Exec(t, base, "CREATE SCHEMA "+name+" AUTHORIZATION "+name)
	Exec(t, base, "ALTER ROLE "+name+" SET search_path = "+name)
	t.Cleanup(func() {
		Exec(t, base, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
		Exec(t, base, "DROP ROLE IF EXISTS "+name)
	})
	return asRole(t, base, name)
}

// asRole returns dsn as role (direct) and the same through PgBouncer
// (pooled).
func asRole(t testing.TB, dsn, role string) (pooled, direct string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.User(role)
	direct = u.String()
	u.Host = BouncerAddr
	return u.String(), direct
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b)
}

// Exec runs one statement on a short-lived connection of its own, so that
// nothing depends on a pool the test may have closed.
func Exec(t testing.TB, dsn, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatalf("pgtest: %s: %v", stmt, err)
	}
}
