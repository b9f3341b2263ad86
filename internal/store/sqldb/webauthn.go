package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

var _ mfa.CredentialStore = (*Store)(nil)

// AddCredential stores a new WebAuthn credential; auth.ErrConflict for a
// credential ID already registered, mfa.ErrTooManyPasskeys (an
// auth.ErrConflict) when the user has mfa.MaxPasskeys already,
// auth.ErrNotFound for a missing user. The count and the insert are one
// transaction under the user's lock (SQLite: one writer), so adds racing
// for the last places never pass the cap.
func (db *Store) AddCredential(ctx context.Context, c mfa.Credential) error {
	return db.tx(ctx, "add webauthn credential", func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = ?`), c.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= mfa.MaxPasskeys {
			return mfa.ErrTooManyPasskeys
		}
		_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO webauthn_credentials (credential_id, user_id, name, kind, data, sign_count, created_at, last_used_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.UserID, c.Name, c.Kind, c.Data, int64(c.SignCount), micros(c.CreatedAt), nullMicros(c.LastUsedAt))
		return err
	})
}

// Credentials lists the user's WebAuthn credentials, oldest first.
func (db *Store) Credentials(ctx context.Context, userID string) ([]mfa.Credential, error) {
	return queryAll(ctx, db, "list webauthn credentials", func(sc scanner) (mfa.Credential, error) {
		var (
			c              = mfa.Credential{UserID: userID}
			count, created int64
			used           sql.NullInt64
		)
		if err := sc.Scan(&c.ID, &c.Name, &c.Kind, &c.Data, &count, &created, &used); err != nil {
			return mfa.Credential{}, err
		}
		c.SignCount, c.CreatedAt, c.LastUsedAt = uint32(count), fromMicros(created), fromNullMicros(used) //nolint:gosec // stored from a uint32
		return c, nil
	}, `SELECT credential_id, name, kind, data, sign_count, created_at, last_used_at FROM webauthn_credentials
	    WHERE user_id = ? ORDER BY created_at, credential_id`, userID)
}

// UseCredential moves the credential's sign count forward and records the
// use, in one conditional UPDATE (so two uses of one signature cannot both
// win); auth.ErrNotFound when the count does not advance.
func (db *Store) UseCredential(ctx context.Context, userID string, id []byte, signCount uint32, at time.Time) error {
	n := int64(signCount)
	// A counter of 0 stays 0 (authenticators without a counter); any
	// other must be above the stored one.
	cond := `sign_count < ?`
	if n == 0 {
		cond = `sign_count = ?`
	}
	return db.execOne(ctx, "use webauthn credential",
		`UPDATE webauthn_credentials SET sign_count = ?, last_used_at = ?
		 WHERE credential_id = ? AND user_id = ? AND `+cond,
		n, micros(at), id, userID, n)
}

// DeleteCredential removes the user's credential; auth.ErrNotFound when the
// user has no credential with this ID. The credential ID is the primary
// key (the owner only narrows it), so the DELETE runs again after a dead
// connection (deleteByKey), and then finding none is success: the run
// whose answer was lost may have deleted it, and either way the user has
// no credential with this ID.
func (db *Store) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	return db.deleteByKey(ctx, "delete webauthn credential",
		`DELETE FROM webauthn_credentials WHERE credential_id = ? AND user_id = ?`, id, userID)
}

// DeleteCredentials removes every WebAuthn credential of the user.
func (db *Store) DeleteCredentials(ctx context.Context, userID string) error {
	_, err := db.exec(ctx, "delete webauthn credentials", `DELETE FROM webauthn_credentials WHERE user_id = ?`, userID)
	return err
}

// UseChallenge records a finished ceremony's challenge digest: the insert
// changes no row when it is there already. Expired digests are dropped on
// the way (the table holds at most a few minutes of ceremonies: their
// life plus mfa.SpentSkew).
func (db *Store) UseChallenge(ctx context.Context, digest string, expires, now time.Time) (bool, error) {
	if _, err := db.exec(ctx, "purge webauthn challenges",
		`DELETE FROM webauthn_challenges WHERE expires_at < ?`, micros(now)); err != nil {
		return false, err
	}
	n, err := db.exec(ctx, "use webauthn challenge",
		`INSERT INTO webauthn_challenges (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING`,
		digest, micros(expires))
	return n == 1, err
}
