package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is every gatehouse store on one SQLite database. Its methods are
// those of *sqldb.Store.
type Store struct {
	*sqldb.Store
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
	// busyTimeout is how long a statement waits for another process's
	// write lock before failing with auth.ErrUnavailable.
	busyTimeout = 5 * time.Second
	// readConns is the size of the read connection pool; writes always use
	// a single connection.
	readConns = 4
)

// Open opens (creating if needed) the SQLite database named by dsn:
// "sqlite://gatehouse.db" (relative to the working directory),
// "sqlite:///abs/path.db", or "sqlite://:memory:" (one connection, for
// throwaway use). It does not migrate: call Migrate.
//
// Writes go through one connection with BEGIN IMMEDIATE, so writers in this
// process queue in database/sql instead of failing with SQLITE_BUSY, and a
// transaction never has to upgrade a read lock; busy_timeout covers other
// processes on the same file. Reads use a separate read-only pool; WAL lets
// them run alongside the writer. The writer sets synchronous FULL itself
// rather than trusting the driver's compiled-in default: with WAL, NORMAL
// would lose the last answered writes (a logout, a revocation) on a power
// cut.
//
// A new database file is created with mode 0600.
//
// Errors: auth.ErrInvalidInput for a malformed DSN or a directory that does
// not exist, auth.ErrUnavailable when the file cannot be opened.
func Open(ctx context.Context, dsn string) (*Store, error) {
	path, err := filePath(dsn)
	if err != nil {
		return nil, err
	}
	if path != ":memory:" {
		if err := createPrivate(path); err != nil {
			return nil, err
		}
	}
	base := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", path, busyTimeout.Milliseconds())
	write, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	read := write
	if path != ":memory:" {
		if read, err = sql.Open("sqlite", base+"&_pragma=query_only(1)"); err != nil {
			_ = write.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		read.SetMaxOpenConns(readConns)
		read.SetMaxIdleConns(readConns)
	}
	s := &Store{Store: sqldb.New(read, write, dialect())}
	// The writer connects first: it creates the file and switches it to WAL
	// before any reader opens it.
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

func dialect() sqldb.Dialect {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sqldb.Dialect{
		Name:       "sqlite",
		Goose:      goose.DialectSQLite3,
		Migrations: migrations,
		Classify:   classify,
	}
}

// createPrivate creates the database file, readable and writable by its
// owner only, when it does not exist yet. It holds password hashes and,
// without keys.encryption_key, private signing keys in clear; SQLite would
// create it with the umask's mode (usually 0644), and it gives the -wal and
// -shm files the database file's mode. An existing file keeps its mode. A
// missing directory is a mistake in the store URL (auth.ErrInvalidInput),
// not a store that is down.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite store %s: directory %s does not exist: %w", path, filepath.Dir(path), auth.ErrInvalidInput)
	}
	return fmt.Errorf("create sqlite database: %w", err)
}

// filePath extracts the file path from a sqlite:// DSN.
func filePath(dsn string) (string, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite://")
	switch {
	case !ok:
		return "", fmt.Errorf("sqlite store %q: must start with sqlite://: %w", dsn, auth.ErrInvalidInput)
	case path == "":
		return "", fmt.Errorf("sqlite store %q: no file path: %w", dsn, auth.ErrInvalidInput)
	case strings.ContainsAny(path, "?#"), strings.HasPrefix(path, "file:"):
		return "", fmt.Errorf("sqlite store %q: the path may not contain '?' or '#' or start with file: %w", dsn, auth.ErrInvalidInput)
	}
	return path, nil
}
