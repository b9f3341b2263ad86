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
		// both dialects walk the time index from the cursor (the index holds
		// the row ID too) instead of scanning the OR.
		query += ` AND (time, id) < (?, ?)`
		args = append(args, micros(f.Before.Time), f.Before.ID)
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	return queryAll(ctx, db, "list audit events", scanAudit, query, append(args, limit)...)
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
