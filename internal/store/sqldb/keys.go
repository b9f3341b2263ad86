package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
)

var _ keys.Store = (*Store)(nil)

// Keys returns every stored key, retired ones included, oldest activation
// first.
func (db *Store) Keys(ctx context.Context) ([]keys.Key, error) {
	return queryAll(ctx, db, "list signing keys", scanKey,
		`SELECT id, algorithm, private, public, encrypted, created_at, activated_at, retires_at
		 FROM signing_keys ORDER BY activated_at, id`)
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
		if _, err := execTx(ctx, db, tx, `UPDATE signing_keys SET retires_at = ? WHERE retires_at IS NULL`, micros(retireAt)); err != nil {
			return err
		}
		_, err = execTx(ctx, db, tx,
			`INSERT INTO signing_keys (id, algorithm, private, public, encrypted, created_at, activated_at, retires_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			next.ID, next.Algorithm, next.Private, next.Public, next.Encrypted, micros(next.CreatedAt), micros(next.ActivatedAt))
		return err
	})
}

// DeleteRetiredKeys removes keys whose RetiresAt is before cutoff.
func (db *Store) DeleteRetiredKeys(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := db.exec(ctx, "delete retired signing keys",
		`DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at < ?`, micros(cutoff))
	return int(n), err
}

// SealKey replaces a private key stored in clear with its sealed form, in
// one conditional UPDATE (a key sealed meanwhile is left alone).
func (db *Store) SealKey(ctx context.Context, id string, sealed []byte) error {
	_, err := db.exec(ctx, "seal signing key",
		`UPDATE signing_keys SET private = ?, encrypted = ? WHERE id = ? AND encrypted = ?`, sealed, true, id, false)
	return err
}

func scanKey(row scanner) (keys.Key, error) {
	var (
		k                  keys.Key
		created, activated int64
		retires            sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.Private, &k.Public, &k.Encrypted, &created, &activated, &retires); err != nil {
		return keys.Key{}, err
	}
	k.CreatedAt, k.ActivatedAt, k.RetiresAt = fromMicros(created), fromMicros(activated), fromNullMicros(retires)
	return k, nil
}
