package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5/pgconn"
)

// classify maps pgx and PostgreSQL errors onto auth's sentinels; nil means
// "none of them". Network errors, EOF and timeouts are recognised by sqldb.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return auth.ErrConflict
		case pe.Code == "23503": // foreign_key_violation
			return auth.ErrNotFound
		case pe.Code == "22021": // character_not_in_repertoire: text that is not UTF-8
			return auth.ErrInvalidInput
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "53300", // too_many_connections
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now
			// undefined_table: a table gone under a running instance (a
			// restore in progress, a schema dropped) is a store that cannot
			// answer, which fails closed like an outage, not a 500.
			pe.Code == "42P01",
			// The server gave up on the statement, or asks for it to be
			// tried again: lock_timeout (55P03 lock_not_available),
			// statement_timeout (57014 query_canceled), a serialization
			// failure under a serializable default_transaction_isolation
			// (40001) or a deadlock with another client (40P01). Like the
			// store's own call timeout, that is a store that did not
			// answer (503), not an internal error.
			pe.Code == "55P03", pe.Code == "57014", pe.Code == "40001", pe.Code == "40P01":
			return auth.ErrUnavailable
		}
		return nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) {
		return auth.ErrUnavailable
	}
	return nil
}

// deadConn reports whether err says that the connection a statement went
// out on was already dead (sqldb.Dialect.DeadConn): PgBouncer, PostgreSQL
// or the network closed it while it sat in the pool, and the statement met
// the closed socket. pgx turns that into driver.ErrBadConn, which
// database/sql retries itself, only when nothing was written
// (pgconn.SafeToRetry); pgx pings a pooled connection first only after a
// second idle. Otherwise the write goes into the closed socket and the read
// that follows fails: pgx v5.12 returns io.ErrUnexpectedEOF (or io.EOF)
// from it, or pgconn.ErrConnClosed when the failed read already closed the
// connection (a BEGIN, sent in the simple protocol), and a reset peer gives
// ECONNRESET or EPIPE, a socket closed under pgx net.ErrClosed.
//
// Not dead connections, whatever they wrap: a failed connection attempt
// (pgconn.ConnectError: the server is down, and connecting again would only
// delay the 503), an answer of the server (PgError), a timeout or a
// canceled context.
func deadConn(err error) bool {
	var (
		ce     *pgconn.ConnectError
		pe     *pgconn.PgError
		netErr net.Error
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &pe), pgconn.Timeout(err),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
