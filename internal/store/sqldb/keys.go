package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
)

var _ keys.Store = (*Store)(nil)

// Keys returns every stored key, retired ones included, and the pending
// key while the key it was announced after is the active one, oldest
// activation first, in one statement (one consistent view). (1 = 1) is a
// boolean in PostgreSQL and 1 in SQLite; both scan into a bool.
func (db *Store) Keys(ctx context.Context) ([]keys.Key, error) {
	return queryAll(ctx, db, "list signing keys", scanKey,
		`SELECT id, algorithm, private, public, encrypted, created_at, activated_at, retires_at, (1 = 0) AS pending
		 FROM signing_keys
		 UNION ALL
		 SELECT p.id, p.algorithm, p.private, p.public, p.encrypted, p.created_at, p.activates_at, NULL, (1 = 1)
		 FROM pending_signing_key p JOIN key_state s ON s.id = 1 AND s.active_id = p.after_id
		 ORDER BY activated_at, id`)
}

// RotateKey makes next the active key and retires every unretired key at
// retireAt — only if the active key is expectActive ("" = no key yet).
//
// The check is a compare-and-swap on the one-row key_state table
// (UPDATE … WHERE active_id = expectActive), not a read of signing_keys:
// two instances that both saw key A cannot both rotate it away, and two
// instances that both saw no key cannot both insert a first one. The loser
// gets auth.ErrConflict and nothing changes. A zero retireAt when a key is
// expected is auth.ErrInvalidInput.
//
// The pending key announced after expectActive moves into signing_keys in
// the same transaction: as the active key when it is next (its stored
// material, next's activation time), else retired at retireAt with the
// others. The pending row is deleted either way (also a stale one, left by
// a rotation of an earlier version that did not know the table).
func (db *Store) RotateKey(ctx context.Context, expectActive string, next keys.Key, retireAt time.Time) error {
	if expectActive != "" && retireAt.IsZero() {
		return fmt.Errorf("rotate signing key: zero retire time: %w", auth.ErrInvalidInput)
	}
	return db.tx(ctx, "rotate signing key", func(ctx context.Context, tx *sql.Tx) error {
		n, err := execTx(ctx, db, tx, `UPDATE key_state SET active_id = ? WHERE id = 1 AND active_id = ?`, next.ID, expectActive)
		if err != nil {
			return err
		}
		if n != 1 {
			return auth.ErrConflict
		}
		var pending string
		err = tx.QueryRowContext(ctx, db.Rebind(`SELECT id FROM pending_signing_key WHERE slot = 1 AND after_id = ?`), expectActive).Scan(&pending)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := execTx(ctx, db, tx, `UPDATE signing_keys SET retires_at = ? WHERE retires_at IS NULL`, micros(retireAt)); err != nil {
			return err
		}
		const movePending = `INSERT INTO signing_keys (id, algorithm, private, public, encrypted, created_at, activated_at, retires_at)
			 SELECT id, algorithm, private, public, encrypted, created_at, `
		switch {
		case pending != "" && pending == next.ID:
			_, err = execTx(ctx, db, tx, movePending+`?, NULL FROM pending_signing_key WHERE slot = 1`, micros(next.ActivatedAt))
		case pending != "":
			if _, err = execTx(ctx, db, tx, movePending+`activates_at, ? FROM pending_signing_key WHERE slot = 1`, micros(retireAt)); err != nil {
				return err
			}
			fallthrough
		default:
			_, err = execTx(ctx, db, tx,
				`INSERT INTO signing_keys (id, algorithm, private, public, encrypted, created_at, activated_at, retires_at)
				 VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
				next.ID, next.Algorithm, next.Private, next.Public, next.Encrypted, micros(next.CreatedAt), micros(next.ActivatedAt))
		}
		if err != nil {
			return err
		}
		_, err = execTx(ctx, db, tx, `DELETE FROM pending_signing_key`)
		return err
	})
}

// AddPendingKey stores next as the pending key (due at next.ActivatedAt)
// only if expectActive is the active key and no key is pending after it.
// The first statement is the same compare-and-swap as RotateKey's on the
// key_state row (setting active_id to itself), so that it also waits for,
// and is refused after, a concurrent rotation; the single-row table (slot 1)
// makes a second announcement conflict. A pending row left after another
// key (stale) is replaced.
func (db *Store) AddPendingKey(ctx context.Context, expectActive string, next keys.Key) error {
	if expectActive == "" {
		return fmt.Errorf("add pending signing key: no active key: %w", auth.ErrInvalidInput)
	}
	return db.tx(ctx, "add pending signing key", func(ctx context.Context, tx *sql.Tx) error {
		n, err := execTx(ctx, db, tx, `UPDATE key_state SET active_id = ? WHERE id = 1 AND active_id = ?`, expectActive, expectActive)
		if err != nil {
			return err
		}
		if n != 1 {
			return auth.ErrConflict
		}
		if _, err := execTx(ctx, db, tx, `DELETE FROM pending_signing_key WHERE after_id <> ?`, expectActive); err != nil {
			return err
		}
		n, err = execTx(ctx, db, tx,
			`INSERT INTO pending_signing_key (slot, id, after_id, algorithm, private, public, encrypted, created_at, activates_at)
			 VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slot) DO NOTHING`,
			next.ID, expectActive, next.Algorithm, next.Private, next.Public, next.Encrypted, micros(next.CreatedAt), micros(next.ActivatedAt))
		if err != nil {
			return err
		}
		if n != 1 {
			return auth.ErrConflict
		}
		return nil
	})
}

// DeleteRetiredKeys removes keys whose RetiresAt is before cutoff.
func (db *Store) DeleteRetiredKeys(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := db.exec(ctx, "delete retired signing keys",
		`DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at < ?`, micros(cutoff))
	return int(n), err
}

// SealKey replaces a private key stored in clear with its sealed form, in
// one conditional UPDATE per table (a key sealed meanwhile is left alone).
func (db *Store) SealKey(ctx context.Context, id string, sealed []byte) error {
	return db.tx(ctx, "seal signing key", func(ctx context.Context, tx *sql.Tx) error {
		for _, table := range []string{"signing_keys", "pending_signing_key"} {
			if _, err := execTx(ctx, db, tx,
				`UPDATE `+table+` SET private = ?, encrypted = ? WHERE id = ? AND encrypted = ?`, sealed, true, id, false); err != nil {
				return err
			}
		}
		return nil
	})
}

func scanKey(row scanner) (keys.Key, error) {
	var (
		k                  keys.Key
		created, activated int64
		retires            sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.Private, &k.Public, &k.Encrypted, &created, &activated, &retires, &k.Pending); err != nil {
		return keys.Key{}, err
	}
	k.CreatedAt, k.ActivatedAt, k.RetiresAt = fromMicros(created), fromMicros(activated), fromNullMicros(retires)
	return k, nil
}
