package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/token"

	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb/sqldbtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
)

// newStore opens a migrated store on a fresh file, seeded with the schema
// migrated once per test binary (sqlitetest.Seed); the tests below that
// migrate a new file themselves are the ones about migrating.
func newStore(t testing.TB) *sqlite.Store {
	t.Helper()
	return sqlitetest.New(t)
}

func TestStore(t *testing.T) {
	sqldbtest.RunStoreTests(t, func(t *testing.T) sqldbtest.Store { return newStore(t) })
}

func TestOpenDSNForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	tests := []struct {
		name, dsn, file string
	}{
		{"Relative", "sqlite://gatehouse.db", filepath.Join(dir, "gatehouse.db")},
		{"RelativeSubdir", "sqlite://./data.db", filepath.Join(dir, "data.db")},
		{"Absolute", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tt.dsn)
			if err != nil {
				t.Fatalf("Open(%s): %v", tt.dsn, err)
			}
			defer s.Close()
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if _, err := os.Stat(tt.file); err != nil {
				t.Fatalf("Open(%s) did not create %s: %v", tt.dsn, tt.file, err)
			}
		})
	}
}

func TestOpenRejectsMalformedDSN(t *testing.T) {
	for _, dsn := range []string{"gatehouse.db", "postgres://x/y", "sqlite://", "sqlite://a.db?_pragma=x", "sqlite://file:a.db"} {
		t.Run(dsn, func(t *testing.T) {
			if _, err := sqlite.Open(context.Background(), dsn); !errors.Is(err, auth.ErrInvalidInput) {
				t.Fatalf("Open(%q) error = %v, want ErrInvalidInput", dsn, err)
			}
		})
	}
}

// A database in a directory that does not exist is a mistake in the
// store URL, not a store that is down: ErrInvalidInput, so that serve
// exits with a configuration error instead of retrying forever.
func TestOpenInMissingDirectoryIsInvalidInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing-dir")
	_, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(dir, "gatehouse.db"))
	if !errors.Is(err, auth.ErrInvalidInput) || errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Open(file in missing directory) error = %v, want ErrInvalidInput (not ErrUnavailable)", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory %s", err, dir)
	}
}

// The database holds password hashes and, without keys.encryption_key,
// private signing keys in clear: a new file and its WAL and shared-memory
// files are readable by their owner only, whatever the umask.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := sqlite.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", filepath.Base(f), perm)
		}
	}
}

// TestWriterSettings: the writer connection runs with the settings that
// docs/configuration.md promises: WAL, synchronous FULL (a write that
// answered survives a power cut, not only a crash of gatehouse), foreign
// keys on, busy_timeout 5 s.
func TestWriterSettings(t *testing.T) {
	db := newStore(t).DB()
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
}

func TestOpenDoesNotMigrate(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	current, latest, err := s.MigrationVersion(ctx)
	if err != nil {
		t.Fatalf("MigrationVersion: %v", err)
	}
	if current != 0 || latest < 1 {
		t.Fatalf("MigrationVersion after Open = %d of %d, want 0 of at least 1", current, latest)
	}
}

func TestInMemory(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.CreateUser(ctx, auth.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if _, err := s.UserByName(ctx, "ALICE"); err != nil {
		t.Fatalf("UserByName: %v", err)
	}
}

// TestTwoProcessesRotateOnce opens the same file twice, as two gatehouse
// processes would: their writers contend through SQLite's file lock, not
// through one pool, and busy_timeout must hide SQLITE_BUSY from callers.
func TestTwoProcessesRotateOnce(t *testing.T) {
	const workers = 20
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	var stores []*sqlite.Store
	for range 2 {
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		stores = append(stores, s)
	}
	now := time.Now()
	if err := stores[0].CreateUser(ctx, auth.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	first := token.Refresh{Hash: "h0", FamilyID: "f1", UserID: "u1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := stores[1].CreateRefresh(ctx, first); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		won, reused int
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := token.Refresh{Hash: fmt.Sprintf("h1-%d", i), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			_, err := stores[i%2].RotateRefresh(ctx, "h0", now, next)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, auth.ErrReused):
				reused++
			default:
				t.Errorf("RotateRefresh: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || reused != workers-1 {
		t.Fatalf("%d won, %d ErrReused; want 1 and %d", won, reused, workers-1)
	}
}

// An existing database file keeps the mode its operator gave it (a
// group-readable file shared with a backup user, say); only a file Open
// creates is made private (TestOpenCreatesPrivateFiles).
func TestOpenKeepsAnExistingFilesMode(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "shared.db")
	if err := os.WriteFile(existing, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), "sqlite://"+existing)
	if err != nil {
		t.Fatalf("Open(existing): %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(existing)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file mode = %v, want 0640 kept", fi.Mode().Perm())
	}
}

// TestConcurrentMigrateOnOneFile: processes sharing one SQLite file (serve
// starting while gatehouse user add sets up a new file, or two instances on
// one host) migrate it at the same moment. SQLite has no migration lock:
// the one whose migration finds the table already created must carry on
// from what the other applied, not fail its start.
func TestConcurrentMigrateOnOneFile(t *testing.T) {
	ctx := context.Background()
	for round := range 3 {
		dsn := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
		var (
			wg     sync.WaitGroup
			stores [3]*sqlite.Store
			errs   [3]error
		)
		for i := range stores {
			s, err := sqlite.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.Migrate(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent Migrate %d: %v", round, i, err)
			}
		}
		if err := stores[0].CheckSchema(ctx); err != nil {
			t.Fatalf("round %d: CheckSchema after concurrent migrations: %v", round, err)
		}
	}
}

// sqlitePlan returns SQLite's EXPLAIN QUERY PLAN of query with args, its
// steps joined by "; ".
func sqlitePlan(t *testing.T, s *sqlite.Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.DB().Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("scan plan: %v", err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("plan: %v", err)
	}
	return strings.Join(plan, "; ")
}

// TestPurgesSearchAnIndex: every purge finds its expired rows through an
// index, not by reading the whole table every 5 minutes.
func TestPurgesSearchAnIndex(t *testing.T) {
	s := newStore(t)
	for _, p := range sqldbtest.PurgeSelects {
		t.Run(p.Table, func(t *testing.T) {
			if got := sqlitePlan(t, s, p.Query, 1, 500); !strings.Contains(got, "USING INDEX") && !strings.Contains(got, "USING COVERING INDEX") {
				t.Fatalf("purge of %s: plan %q does not search an index", p.Table, got)
			}
		})
	}
}

// TestClientDeletionSearchesAnIndex: deleting a client finds its session
// grants and queued back-channel logouts through an index on client_id.
func TestClientDeletionSearchesAnIndex(t *testing.T) {
	s := newStore(t)
	for _, q := range sqldbtest.ClientDeletes {
		t.Run(q.Table, func(t *testing.T) {
			// "USING COVERING INDEX" when the index holds every column
			// the statement needs.
			want := "INDEX " + q.Table + "_client_id (client_id=?)"
			if got := sqlitePlan(t, s, q.Query, "web"); !strings.Contains(got, "SEARCH "+q.Table+" USING ") || !strings.Contains(got, want) {
				t.Fatalf("%s: plan %q does not search %s", q.Query, got, q.Table+"_client_id")
			}
		})
	}
}

// TestColumnSearchesUseAnIndex: every statement that finds the rows of one
// user, client or refresh family by a column that is not the primary key
// (the DELETEs being what ON DELETE CASCADE runs) searches an index on that
// column rather than scanning the table or another index. Every foreign key
// of the schema has its cascade listed.
func TestColumnSearchesUseAnIndex(t *testing.T) {
	s := newStore(t)
	sqldbtest.RunColumnSearches(t, s.DB(), `SELECT m.name, f."from" FROM sqlite_schema m, pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table' AND f.seq = 0`,
		func(t *testing.T, table, column, query string, args []any) {
			got := sqlitePlan(t, s, query, args...)
			if !strings.Contains(got, "SEARCH "+table+" USING ") || !strings.Contains(got, "("+column+"=?") {
				t.Fatalf("%s: plan %q does not search an index on %s", query, got, column)
			}
		})
}

// TestAuditByTypeSearchesAnIndex: listing the audit trail by event type
// (first page, cursor page, time range), with the statement ListAudit
// runs, searches audit_events_type_time by type and reads it in ListAudit's
// order (the index ends in the row ID), without a sort.
func TestAuditByTypeSearchesAnIndex(t *testing.T) {
	s := newStore(t)
	for _, l := range sqldbtest.AuditTypeListings {
		t.Run(l.Name, func(t *testing.T) {
			query, args := sqldb.ListAuditQuery(l.Filter)
			got := sqlitePlan(t, s, query, args...)
			if !strings.Contains(got, "SEARCH audit_events USING INDEX audit_events_type_time (type=?") || strings.Contains(got, "TEMP B-TREE") {
				t.Fatalf("%+v: plan %q does not search audit_events_type_time in order", l.Filter, got)
			}
		})
	}
}

// TestUpgrade: a database of an earlier release, on a file of its own, keeps
// its data through today's migrations.
func TestUpgrade(t *testing.T) {
	sqldbtest.RunUpgradeTests(t, func(t *testing.T) sqldbtest.Store {
		t.Helper()
		s, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
