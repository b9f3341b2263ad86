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
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		base = DefaultDSN
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse GATEHOUSE_TEST_POSTGRES: %v", err)
	}
	schema := "gh_" + randomHex(t)
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b)
}

// exec runs one statement on a short-lived connection of its own, so that
// nothing depends on a pool the test may have closed.
func exec(t testing.TB, dsn, stmt string) {
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
