package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
)

var _ revocation.Store = (*Store)(nil)

// PublishRevocation stores ev; every instance sees it on its next
// Revocations call.
func (db *Store) PublishRevocation(ctx context.Context, ev revocation.Event) error {
	return db.tx(ctx, "publish revocation", func(ctx context.Context, tx *sql.Tx) error {
		if db.d.LockRevocations != "" {
			if _, err := tx.ExecContext(ctx, db.d.LockRevocations); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO revocations (kind, key, until) VALUES (?, ?, ?)`),
			ev.Kind, ev.Key, micros(ev.Until))
		return err
	})
}

// Revocations returns the events stored after cursor that are still active
// at now, and the next cursor (the decimal sequence number of the newest
// event seen). cursor "" returns every active event and a cursor past all
// stored ones. wait is ignored: SQL stores return at once, and callers poll.
// A cursor that is not a number is auth.ErrInvalidInput.
func (db *Store) Revocations(ctx context.Context, cursor string, now time.Time, wait time.Duration) ([]revocation.Event, string, error) {
	const op = "read revocations"
	var after int64
	if cursor != "" {
		var err error
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil || after < 0 {
			return nil, "", fmt.Errorf("%s: cursor %q: %w", op, cursor, auth.ErrInvalidInput)
		}
	}
	// The newest sequence number is read first: rows published in between
	// are then returned again next time rather than skipped.
	var maxSeq sql.NullInt64
	if err := db.queryRow(ctx, "revocations cursor", `SELECT MAX(seq) FROM revocations`).Scan(&maxSeq); err != nil {
		return nil, "", db.wrap(op, err)
	}
	if !maxSeq.Valid || maxSeq.Int64 <= after {
		return nil, strconv.FormatInt(max(after, maxSeq.Int64), 10), nil
	}
	evs, err := queryAll(ctx, db, op, scanRevocation,
		`SELECT kind, key, until FROM revocations WHERE seq > ? AND seq <= ? AND until > ? ORDER BY seq`,
		after, maxSeq.Int64, micros(now))
	if err != nil {
		return nil, "", err
	}
	return evs, strconv.FormatInt(maxSeq.Int64, 10), nil
}

// Revoked reports whether an event of kind with key is active at now.
func (db *Store) Revoked(ctx context.Context, kind, key string, now time.Time) (bool, error) {
	var n int
	err := db.queryRow(ctx, "revoked",
		`SELECT COUNT(*) FROM revocations WHERE kind = ? AND key = ? AND until > ?`, kind, key, micros(now)).Scan(&n)
	if err != nil {
		return false, db.wrap("check revocation", err)
	}
	return n > 0, nil
}

// DeleteExpiredRevocations purges events whose Until is at or before now,
// PurgeBatch at a time.
func (db *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	return db.purge(ctx, "delete expired revocations", "revocations", "seq", `until <= ?`, micros(now))
}

func scanRevocation(row scanner) (revocation.Event, error) {
	var (
		ev    revocation.Event
		until int64
	)
	if err := row.Scan(&ev.Kind, &ev.Key, &until); err != nil {
		return revocation.Event{}, err
	}
	ev.Until = fromMicros(until)
	return ev, nil
}
