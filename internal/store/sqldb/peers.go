package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/peers"
)

var _ peers.Store = (*Store)(nil)

// PutPeer stores r, replacing the record of r.ID, and deletes the records
// that expired by r.SeenAt (the table holds one row per instance started
// within peers.TTL).
func (db *Store) PutPeer(ctx context.Context, r peers.Record) error {
	settings, err := encodeJSON(r.Settings, "{}")
	if err != nil {
		return db.wrap("put peer", err)
	}
	return db.tx(ctx, "put peer", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM peers WHERE expires_at <= ?`), micros(r.SeenAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO peers (id, host, listen, settings, seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, listen = excluded.listen,
			settings = excluded.settings, seen_at = excluded.seen_at, expires_at = excluded.expires_at`),
			r.ID, r.Host, r.Listen, settings, micros(r.SeenAt), micros(r.ExpiresAt))
		return err
	})
}

// Peers returns the records live at now, ordered by ID.
func (db *Store) Peers(ctx context.Context, now time.Time) ([]peers.Record, error) {
	return queryAll(ctx, db, "read peers", scanPeer,
		`SELECT id, host, listen, settings, seen_at, expires_at FROM peers WHERE expires_at > ? ORDER BY id`, micros(now))
}

// DeletePeer removes the record of id, if any. The DELETE is by primary
// key and counts nothing, so it runs again after a dead connection, like
// execSame: a second run leaves what the first did.
func (db *Store) DeletePeer(ctx context.Context, id string) error {
	_, _, err := db.execOn(ctx, "delete peer", true, `DELETE FROM peers WHERE id = ?`, id)
	return err
}

func scanPeer(row scanner) (peers.Record, error) {
	var (
		r            peers.Record
		settings     string
		seen, expire int64
	)
	if err := row.Scan(&r.ID, &r.Host, &r.Listen, &settings, &seen, &expire); err != nil {
		return r, err
	}
	if err := decodeJSON(settings, &r.Settings); err != nil {
		return r, err
	}
	r.SeenAt, r.ExpiresAt = fromMicros(seen), fromMicros(expire)
	return r, nil
}
