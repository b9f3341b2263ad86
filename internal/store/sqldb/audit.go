package sqldb

import (
	"context"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
)

var _ audit.Store = (*Store)(nil)

// Limits of ListAudit: Filter.Limit 0 (or less) means defaultAuditLimit, and
// no call returns more than maxAuditLimit events.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 10000
)

// AppendAudit stores e; the database assigns e.ID.
func (db *Store) AppendAudit(ctx context.Context, e audit.Event) error {
	details, err := encodeJSON(e.Details, "{}")
	if err != nil {
		return db.wrap("append audit event", err)
	}
	_, err = db.exec(ctx, "append audit event",
		`INSERT INTO audit_events (time, type, user_id, username, ip, request_id, details) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		micros(e.Time), e.Type, e.UserID, e.Username, e.IP, e.RequestID, details)
	return err
}

// ListAudit returns events matching f, newest first (by time, then by
// insertion order).
func (db *Store) ListAudit(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	query, args := ListAuditQuery(f)
	return queryAll(ctx, db, "list audit events", scanAudit, query, args...)
}

// ListAuditQuery returns the statement ListAudit runs for f, with "?"
// placeholders, and its arguments. Exported so that the stores' plan tests
// explain the statement ListAudit runs, not a copy of it.
//
// A type filter searches audit_events_type_time (type, time, id), migration
// 18: the equality on type, the time bounds and the (time, id) cursor are
// all conditions of that index, whose order is ListAudit's, so a page reads
// its rows and no others. Without it, a rare type walked the time index
// over every event of every other type.
func ListAuditQuery(f audit.Filter) (string, []any) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	query := `SELECT id, time, type, user_id, username, ip, request_id, details FROM audit_events WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		query += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Type != "" {
		query += ` AND type = ?`
		args = append(args, f.Type)
	}
	if !f.Since.IsZero() {
		query += ` AND time >= ?`
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		query += ` AND time < ?`
		args = append(args, micros(f.Until))
	}
	if f.Before.ID != 0 {
		// A row-value comparison, not "time < ? OR (time = ? AND id < ?)":
		// both dialects search an index from the cursor instead of
		// scanning the OR (SQLite's indexes end in the row ID;
		// PostgreSQL's audit_events_type_time holds id as a column).
		query += ` AND (time, id) < (?, ?)`
		args = append(args, micros(f.Before.Time), f.Before.ID)
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	return query, append(args, limit)
}

// PurgeAudit deletes the events older than before, PurgeBatch at a time
// (by the time index).
func (db *Store) PurgeAudit(ctx context.Context, before time.Time) (int, error) {
	return db.purge(ctx, "purge audit events", "audit_events", "id", `time < ?`, micros(before))
}

func scanAudit(row scanner) (audit.Event, error) {
	var (
		e       audit.Event
		at      int64
		details string
	)
	if err := row.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.Username, &e.IP, &e.RequestID, &details); err != nil {
		return audit.Event{}, err
	}
	if err := decodeJSON(details, &e.Details); err != nil {
		return audit.Event{}, err
	}
	e.Time = fromMicros(at)
	return e, nil
}
