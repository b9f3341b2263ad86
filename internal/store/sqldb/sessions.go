package sqldb

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/session"
)

var _ session.Store = (*Store)(nil)

const sessionColumns = `id, user_id, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent, method, amr`

// CreateSession stores r; auth.ErrConflict when r.ID exists, auth.ErrNotFound
// when r.UserID is not a user (sessions die with their user).
//
// r.ID is fresh (session.Manager.Create: the hash of 256 random bits drawn
// for this login), so the INSERT runs again after a dead connection
// (insertFresh): a conflict after that is this call's own row, stored by
// the run whose answer was lost, and is success once the stored row is
// read back as r.
func (db *Store) CreateSession(ctx context.Context, r session.Record) error {
	amr, err := encodeJSON(r.AMR, "[]")
	if err != nil {
		return db.wrap("create session", err)
	}
	stored := func(ctx context.Context) bool {
		got, err := db.Session(ctx, r.ID)
		return err == nil && sameSession(got, r)
	}
	return db.insertFresh(ctx, "create session", stored,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.UserID, micros(r.CreatedAt), micros(r.LastSeenAt), micros(r.IdleExpiresAt), micros(r.ExpiresAt),
		r.IP, r.UserAgent, r.Method, amr)
}

// sameSession reports whether stored, read back from the store, is r as
// CreateSession stores it (times in microseconds, no AMR as an empty one).
func sameSession(stored, r session.Record) bool {
	same := func(a, b time.Time) bool { return micros(a) == micros(b) }
	return stored.ID == r.ID && stored.UserID == r.UserID && same(stored.CreatedAt, r.CreatedAt) &&
		same(stored.LastSeenAt, r.LastSeenAt) && same(stored.IdleExpiresAt, r.IdleExpiresAt) &&
		same(stored.ExpiresAt, r.ExpiresAt) && stored.IP == r.IP && stored.UserAgent == r.UserAgent &&
		stored.Method == r.Method && slices.Equal(stored.AMR, r.AMR)
}

// Session returns the session with id, expired or not, or auth.ErrNotFound.
func (db *Store) Session(ctx context.Context, id string) (session.Record, error) {
	r, err := scanSession(db.queryRow(ctx, "load session", `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	return r, db.wrap("load session", err)
}

// TouchSession sets LastSeenAt and IdleExpiresAt; auth.ErrNotFound when the
// session is gone.
func (db *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	// Fixed values by primary key: running it twice is running it once
	// (PostgreSQL and SQLite count a matched row as touched either way).
	return db.execSame(ctx, "touch session",
		`UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?`,
		micros(lastSeen), micros(idleExpiresAt), id)
}

// DeleteSession removes one session; auth.ErrNotFound when absent. The
// DELETE by primary key runs again after a dead connection (deleteByKey),
// and then finding no row is success: the run whose answer was lost may
// have deleted it, and either way the session is gone. So is one that
// another call deleted meanwhile; session.Manager, which tells the two
// apart where it matters (a successor replacing a session), reads the
// session first.
func (db *Store) DeleteSession(ctx context.Context, id string) error {
	return db.deleteByKey(ctx, "delete session", `DELETE FROM sessions WHERE id = ?`, id)
}

// UserSessions lists a user's sessions, oldest first, expired ones included.
func (db *Store) UserSessions(ctx context.Context, userID string) ([]session.Record, error) {
	return queryAll(ctx, db, "list user sessions", scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// DeleteUserSessions removes every session of userID except keepID and
// returns the removed IDs.
func (db *Store) DeleteUserSessions(ctx context.Context, userID, keepID string) ([]string, error) {
	const op = "delete user sessions"
	var ids []string
	err := db.tx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, db.Rebind(`DELETE FROM sessions WHERE user_id = ? AND id <> ? RETURNING id`), userID, keepID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// DeleteExpiredSessions purges sessions whose idle or absolute expiry is at
// or before now, PurgeBatch at a time.
func (db *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return db.purge(ctx, "delete expired sessions", "sessions", "id",
		`idle_expires_at <= ? OR expires_at <= ?`, micros(now), micros(now))
}

func scanSession(row scanner) (session.Record, error) {
	var (
		r                            session.Record
		created, seen, idle, expires int64
		amr                          string
	)
	if err := row.Scan(&r.ID, &r.UserID, &created, &seen, &idle, &expires, &r.IP, &r.UserAgent, &r.Method, &amr); err != nil {
		return session.Record{}, err
	}
	if err := decodeJSON(amr, &r.AMR); err != nil {
		return session.Record{}, err
	}
	if len(r.AMR) == 0 {
		r.AMR = nil
	}
	r.CreatedAt, r.LastSeenAt = fromMicros(created), fromMicros(seen)
	r.IdleExpiresAt, r.ExpiresAt = fromMicros(idle), fromMicros(expires)
	return r, nil
}
