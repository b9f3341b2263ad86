package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// wrap gives err the context op and the auth sentinel callers branch on.
// Conflicts carry only the sentinel: a driver's constraint message can quote
// the offending value (a token hash), which must not reach a log line.
func (db *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, auth.ErrNotFound)
	case errors.Is(err, context.Canceled):
		// The caller went away; the database may be fine.
		return fmt.Errorf("%s: %w", op, err)
	case db.closed.Load() || isUnavailable(err):
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	}
	switch s := db.d.Classify(err); {
	case s == nil:
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(s, auth.ErrUnavailable):
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	default:
		return fmt.Errorf("%s: %w", op, s)
	}
}

// isUnavailable recognises the dialect-independent ways a database fails to
// answer: a dead or closed connection, a network error, a timeout.
func isUnavailable(err error) bool {
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &netErr)
}
