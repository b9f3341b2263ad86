package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-auth/gatehouse/internal/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb/sqldbtest"
)

func TestStore(t *testing.T) {
	sqldbtest.RunStoreTests(t, func(t *testing.T) sqldbtest.Store { return pgtest.New(t) })
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
// the migration lock makes one wait for the other instead of failing.
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

// TestPGTestSchemasAreSeparate checks the helpers other packages rely on:
// two stores of each see different data, and the copies of the migrated
// template are at the newest schema version, directly and through
// PgBouncer as the role that owns them.
func TestPGTestSchemasAreSeparate(t *testing.T) {
	ctx := context.Background()
	bouncer := func(t *testing.T) *postgres.Store {
		pooled, direct := pgtest.MigratedBouncerDSN(t)
		return pgtest.Open(t, pooled, postgres.WithMigrateDSN(direct))
	}
	for name, open := range map[string]func(t *testing.T) *postgres.Store{
		"New":                func(t *testing.T) *postgres.Store { return pgtest.New(t) },
		"MigratedBouncerDSN": bouncer,
		"DSN":                func(t *testing.T) *postgres.Store { return pgtest.Open(t, pgtest.DSN(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			a, b := open(t), open(t)
			for _, s := range []*postgres.Store{a, b} {
				if err := s.CheckSchema(ctx); err != nil {
					t.Fatalf("CheckSchema: %v", err)
				}
			}
			if err := a.CreateUser(ctx, auth.User{ID: "u1", Username: "alice"}); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			if _, err := b.UserByID(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("other store's UserByID error = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestStoreThroughPgBouncer runs the whole conformance suite through
// PgBouncer in transaction pooling, migrating over the direct connection
// (store_migrate). With pgx's default server-side prepared statements
// (default_query_exec_mode=cache_statement) it fails as soon as PgBouncer
// hands a statement to another server connection.
func TestStoreThroughPgBouncer(t *testing.T) {
	sqldbtest.RunStoreTests(t, func(t *testing.T) sqldbtest.Store {
		pooled, direct := pgtest.MigratedBouncerDSN(t)
		return pgtest.Open(t, pooled, postgres.WithMigrateDSN(direct))
	})
}

// PostgreSQL refuses text that is not UTF-8, which a form or a URL can
// carry as bytes. Such a request is bad input (400), not a server error
// (500) and not a store outage (503).
func TestNonUTF8TextIsInvalidInput(t *testing.T) {
	s := pgtest.New(t)
	_, err := s.UserByName(context.Background(), "al\xffice")
	if !errors.Is(err, auth.ErrInvalidInput) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("UserByName(non-UTF-8) error = %v, want ErrInvalidInput", err)
	}
}

// An operator's lock_timeout or statement_timeout (on the role, the
// database or in the URL) cancels a statement on the server: the store did
// not answer in time, which fails closed as unavailable (503) like the
// store's own timeout, not as an internal error (500).
func TestServerTimeoutsAreUnavailable(t *testing.T) {
	tests := []struct {
		name, param string
	}{
		{"LockTimeout", "lock_timeout=50ms"},
		{"StatementTimeout", "statement_timeout=50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := pgtest.DSN(t)
			pgtest.Open(t, dsn) // without the timeout, which a busy machine's DDL may exceed
			s, err := postgres.Open(ctx, dsn+"&"+tt.param)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			now := time.Now()
			if err := s.CreateUser(ctx, auth.User{ID: "u1", Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			t.Cleanup(func() { _ = tx.Rollback() })
			if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = disabled WHERE id = 'u1'`); err != nil {
				t.Fatalf("lock u1: %v", err)
			}
			if err := s.DeleteUser(ctx, "u1"); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("DeleteUser behind a lock with %s: error = %v, want ErrUnavailable", tt.param, err)
			}
		})
	}
}

// Serialization failures and deadlocks (a role whose
// default_transaction_isolation is serializable, a deadlock with another
// client of the database) are transient: the request may be retried, so
// they are unavailable (503), not internal errors (500).
func TestTransientServerErrorsAreUnavailable(t *testing.T) {
	for _, code := range []string{"40001", "40P01", "55P03", "57014"} {
		t.Run(code, func(t *testing.T) {
			if err := postgres.Classify(&pgconn.PgError{Code: code}); !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("classify(%s) = %v, want ErrUnavailable", code, err)
			}
		})
	}
}

// TestConcurrentMigrateThroughPgBouncer: instances starting together with
// store pointing at PgBouncer in transaction pooling and no store_migrate.
// A session-level advisory lock taken through the pooler stays on whichever
// server connection ran it: the unlock can land on another one (goose's
// "failed to unlock session", after a minute of retries), the lock is then
// held by a pooled connection for every later instance, and another
// instance's try-lock on that same server connection succeeds while the
// first still migrates. Every round must migrate and leave no lock behind.
func TestConcurrentMigrateThroughPgBouncer(t *testing.T) {
	for round := range 4 {
		pooled, _ := pgtest.BouncerDSN(t)
		errs := make(chan error, 3)
		for range 3 {
			s, err := postgres.Open(context.Background(), pooled)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				errs <- s.Migrate(ctx)
			}()
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Errorf("round %d: Migrate through PgBouncer: %v", round, err)
			}
		}
		if n := advisoryLocks(t, pooled); n != 0 {
			t.Fatalf("round %d: %d advisory locks still held by the instances' role after Migrate returned", round, n)
		}
	}
}

// advisoryLocks counts the advisory locks held by sessions of dsn's role.
func advisoryLocks(t *testing.T, dsn string) int {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DefaultDSN)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND a.usename = $1`, u.User.Username()).Scan(&n); err != nil {
		t.Fatalf("count advisory locks: %v", err)
	}
	return n
}

// pgPlan returns PostgreSQL's EXPLAIN of query (in ? form) with args, with
// sequential scans priced out so that the planner picks an index whenever
// one serves.
func pgPlan(t *testing.T, s *postgres.Store, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatalf("set: %v", err)
	}
	rows, err := tx.QueryContext(ctx, `EXPLAIN `+s.Rebind(query), args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatalf("scan plan: %v", err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("plan: %v", err)
	}
	return strings.Join(plan, "\n")
}

// TestPurgesSearchAnIndex: every purge finds its expired rows through an
// index, not by reading the whole table every 5 minutes. Sequential scans
// are priced out, so the planner picks an index whenever one serves.
func TestPurgesSearchAnIndex(t *testing.T) {
	s := pgtest.New(t)
	for _, p := range sqldbtest.PurgeSelects {
		t.Run(p.Table, func(t *testing.T) {
			if got := pgPlan(t, s, p.Query, int64(1), 500); strings.Contains(got, "Seq Scan") {
				t.Fatalf("purge of %s reads the whole table:\n%s", p.Table, got)
			}
		})
	}
}

// TestClientDeletionSearchesAnIndex: deleting a client finds its session
// grants and queued back-channel logouts through the index on client_id
// that pg_indexes lists. Sequential scans are priced out, so the planner
// picks an index whenever one serves.
func TestClientDeletionSearchesAnIndex(t *testing.T) {
	s := pgtest.New(t)
	for _, q := range sqldbtest.ClientDeletes {
		t.Run(q.Table, func(t *testing.T) {
			ctx := context.Background()
			index := q.Table + "_client_id"
			var def string
			if err := s.DB().QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes
				WHERE schemaname = current_schema() AND tablename = $1 AND indexname = $2`, q.Table, index).Scan(&def); err != nil {
				t.Fatalf("index %s in pg_indexes: %v", index, err)
			}
			if !strings.HasSuffix(def, "(client_id)") {
				t.Errorf("index %s = %q, want one on (client_id)", index, def)
			}
			if got := pgPlan(t, s, q.Query, "web"); !strings.Contains(got, index) {
				t.Fatalf("%s does not search %s:\n%s", q.Query, index, got)
			}
		})
	}
}

// TestColumnSearchesUseAnIndex: every statement that finds the rows of one
// user, client or refresh family by a column that is not the primary key
// (the DELETEs being what ON DELETE CASCADE runs) searches an index on that
// column, with an Index Cond on it: sequential scans are priced out, so a
// plan without one would walk another index (or the table) whole. Every
// foreign key of the schema has its cascade listed.
func TestColumnSearchesUseAnIndex(t *testing.T) {
	s := pgtest.New(t)
	sqldbtest.RunColumnSearches(t, s.DB(), `SELECT r.relname, a.attname
		FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND r.relnamespace = current_schema()::regnamespace`,
		func(t *testing.T, _, column, query string, args []any) {
			got := pgPlan(t, s, query, args...)
			if strings.Contains(got, "Seq Scan") || !strings.Contains(got, "Index Cond: ("+column+" = ") {
				t.Fatalf("%s does not search an index on %s:\n%s", query, column, got)
			}
		})
}

// TestAuditByTypeSearchesAnIndex: listing the audit trail by event type
// (first page, cursor page, time range), with the statement ListAudit
// runs, searches audit_events_type_time and checks no condition row by
// row: the type, the time bounds and the (time, id) cursor are all Index
// Conds. An index on (type, time) alone would leave the cursor a Filter
// and the order by id a sort. Sequential scans are priced out, so the
// planner picks an index whenever one serves.
func TestAuditByTypeSearchesAnIndex(t *testing.T) {
	s := pgtest.New(t)
	for _, l := range sqldbtest.AuditTypeListings {
		t.Run(l.Name, func(t *testing.T) {
			query, args := sqldb.ListAuditQuery(l.Filter)
			got := pgPlan(t, s, query, args...)
			if !strings.Contains(got, " audit_events_type_time ") || strings.Contains(got, "Filter: ") {
				t.Fatalf("%+v: does not search audit_events_type_time with every condition:\n%s", l.Filter, got)
			}
		})
	}
}

// TestMigration17KeepsIndexesBuiltBeforehand: the indexes of migration 17,
// built CONCURRENTLY on a schema-16 database under the migration's names
// while the previous release serves (docs/deploy.md, "Migration 17 builds
// indexes"), are kept by the migration, which then completes.
func TestMigration17KeepsIndexesBuiltBeforehand(t *testing.T) {
	testKeepsIndexesBuiltBeforehand(t, 17, map[string]string{
		"refresh_families_client_id":    "refresh_families (client_id)",
		"consents_client_id":            "consents (client_id)",
		"authorization_codes_client_id": "authorization_codes (client_id)",
		"authorization_codes_user_id":   "authorization_codes (user_id)",
		"session_grants_user_id":        "session_grants (user_id)",
		"oidc_login_sessions_user_id":   "oidc_login_sessions (user_id)",
	})
}

// TestMigration18KeepsIndexBuiltBeforehand: migration 18's index on
// audit_events, built CONCURRENTLY beforehand (docs/deploy.md, "Migration
// 18 builds an index"), is kept by the migration, which then completes.
func TestMigration18KeepsIndexBuiltBeforehand(t *testing.T) {
	testKeepsIndexesBuiltBeforehand(t, 18, map[string]string{
		"audit_events_type_time": "audit_events (type, time, id)",
	})
}

// testKeepsIndexesBuiltBeforehand builds indexes (name: table and columns)
// CONCURRENTLY on a database at the schema before migration version, then
// migrates it up to date: the migration must keep each (the same oid).
func testKeepsIndexesBuiltBeforehand(t *testing.T, version int64, indexes map[string]string) {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.MigrateTo(ctx, version-1); err != nil {
		t.Fatalf("MigrateTo(%d): %v", version-1, err)
	}
	oids := map[string]int64{}
	for name, on := range indexes {
		if _, err := s.DB().ExecContext(ctx, `CREATE INDEX CONCURRENTLY IF NOT EXISTS `+name+` ON `+on); err != nil {
			t.Fatalf("build %s beforehand: %v", name, err)
		}
		var oid int64
		if err := s.DB().QueryRowContext(ctx, `SELECT to_regclass($1)::oid`, name).Scan(&oid); err != nil {
			t.Fatalf("oid of %s: %v", name, err)
		}
		oids[name] = oid
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate over indexes built beforehand: %v", err)
	}
	if current, latest, err := s.MigrationVersion(ctx); err != nil || current != latest || current < version {
		t.Fatalf("MigrationVersion = %d of %d, %v; want up to date and at least %d", current, latest, err, version)
	}
	for name, oid := range oids {
		var after int64
		if err := s.DB().QueryRowContext(ctx, `SELECT to_regclass($1)::oid`, name).Scan(&after); err != nil || after != oid {
			t.Errorf("index %s after the migration = oid %d, %v; want the one built beforehand (%d)", name, after, err, oid)
		}
	}
}

// TestUpgrade: a database of an earlier release, in a schema of its own,
// keeps its data through today's migrations.
func TestUpgrade(t *testing.T) {
	sqldbtest.RunUpgradeTests(t, func(t *testing.T) sqldbtest.Store {
		t.Helper()
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
