package sqlite

import (
	"errors"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// classify maps SQLite result codes onto auth's sentinels; nil means "none
// of them". BUSY and LOCKED only reach here after busy_timeout expired: the
// database stayed locked, which callers must treat as unavailable.
func classify(err error) error {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return auth.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return auth.ErrNotFound
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL:
		return auth.ErrUnavailable
	}
	return nil
}
