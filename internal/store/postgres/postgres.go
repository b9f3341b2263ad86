package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqldb"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is every gatehouse store on one PostgreSQL database (the schema is
// the first of the connection's search_path). Its methods are those of
// *sqldb.Store.
type Store struct {
	*sqldb.Store
	migrateDSN string
}

var (
	_ user.Store         = (*Store)(nil)
	_ session.Store      = (*Store)(nil)
	_ token.RefreshStore = (*Store)(nil)
	_ keys.Store         = (*Store)(nil)
	_ audit.Store        = (*Store)(nil)
	_ revocation.Store   = (*Store)(nil)
	_ user.IdentityStore = (*Store)(nil)
)

const (
	// maxConns caps the connection pool.
	maxConns = 10
	// connectTimeout bounds each connection attempt when the DSN sets no
	// connect_timeout, so that a dead server fails requests with
	// auth.ErrUnavailable instead of hanging them.
	connectTimeout = 5 * time.Second
)

// Option configures Open.
type Option func(*Store)

// WithMigrateDSN makes Migrate run on dsn, a direct connection to the same
// database, instead of the store's own (config key store_migrate). It is
// optional behind PgBouncer in transaction pooling: the migration lock is a
// table row (migrationLocker), which needs no session.
func WithMigrateDSN(dsn string) Option { return func(s *Store) { s.migrateDSN = dsn } }

// Open returns a Store for dsn, any connection string pgx accepts
// ("postgres://user@host:5432/db?sslmode=disable"). It does not connect:
// a database that is down makes calls fail with auth.ErrUnavailable until it
// answers again, and Ping reports it. It does not migrate: call Migrate.
//
// Errors: auth.ErrInvalidInput for a DSN pgx cannot parse.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	// Describe once per query text and cache the result client-side, but
	// execute through the unnamed statement: no server-side prepared
	// statement outlives a round trip, so the store works behind PgBouncer
	// in transaction pooling (which may give each statement another server
	// connection) at the cost of a parse per statement. The simple protocol
	// would also work but formats parameters client-side. A DSN may choose
	// otherwise with default_query_exec_mode.
	if !strings.Contains(dsn, "default_query_exec_mode") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	s := &Store{Store: sqldb.New(db, db, dialect())}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// CheckDSN returns the error Open would return for dsn, or nil: the one
// rule for a PostgreSQL DSN (pgx's), which config check applies too (store,
// store_migrate). The error wraps auth.ErrInvalidInput; pgx masks the
// password in the DSN it quotes.
func CheckDSN(dsn string) error {
	_, err := parseDSN(dsn)
	return err
}

func parseDSN(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("%w: %w", err, auth.ErrInvalidInput)
	}
	return cfg, nil
}

// Migrate applies pending migrations, on the WithMigrateDSN connection when
// one was given.
func (s *Store) Migrate(ctx context.Context) error {
	if s.migrateDSN == "" {
		return s.Store.Migrate(ctx)
	}
	direct, err := Open(ctx, s.migrateDSN)
	if err != nil {
		return fmt.Errorf("open store_migrate: %w", err)
	}
	defer direct.Close()
	return direct.Store.Migrate(ctx)
}

// Migrations returns the goose migrations Migrate applies, one
// NNNNN_name.sql file per schema version (tests name a migrated template
// database after their content).
func Migrations() fs.FS {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return migrations
}

func dialect() sqldb.Dialect {
	return sqldb.Dialect{
		Name:               "postgres",
		Goose:              goose.DialectPostgres,
		Migrations:         Migrations(),
		DollarPlaceholders: true,
		Classify:           classify,
		DeadConn:           deadConn,
		LockRevocations:    `LOCK TABLE revocations IN EXCLUSIVE MODE`,
		// NO KEY UPDATE: does not wait for, nor block, rows being inserted
		// that reference the user (their foreign key takes KEY SHARE). KEY
		// SHARE on the client waits for, and blocks, only its deletion.
		LockUser:        `SELECT 1 FROM users WHERE id = ? FOR NO KEY UPDATE`,
		LockClient:      `SELECT registration FROM oauth_clients WHERE id = ? FOR KEY SHARE`,
		MigrationLocker: migrationLocker,
	}
}

// migrationLockTable is the one-row table, in the current schema, whose
// row is the migration lock.
const migrationLockTable = "gatehouse_migration_lock"

// migrationLocker returns a lock held as a row of migrationLockTable in the
// current schema, with a lease (30 s, renewed every 5 s while migrations
// run; an instance that dies holding it delays the others by the rest of
// the lease): instances sharing a schema migrate one at a time, while tests
// in separate schemas do not wait for each other. Each of its statements
// stands alone, so it holds through PgBouncer in transaction pooling; a
// session-level advisory lock does not (the unlock may run on another
// server connection, leaving the lock on a pooled one, and a try-lock
// that lands on the holder's connection succeeds).
func migrationLocker(ctx context.Context, db *sql.DB) (lock.Locker, error) {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, err
	}
	if !schema.Valid {
		return nil, fmt.Errorf("no schema on the search_path exists: %w", auth.ErrInvalidInput)
	}
	return lock.NewPostgresTableLocker(lock.WithTableName(migrationLockTable), lock.WithTableLockTimeout(time.Second, 300))
}
