package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa"
)

var (
	_ mfa.Store     = (*Store)(nil)
	_ mfa.StepStore = (*Store)(nil)
)

// PutTOTP stores t as the user's only TOTP, replacing an unconfirmed one;
// auth.ErrNotFound when the user does not exist, auth.ErrConflict when a
// confirmed TOTP is there (the INSERT meets its primary key). Concurrent
// puts take the user's lock first: on PostgreSQL the DELETE of one does not
// see the row another has inserted but not committed, so its INSERT met
// that row's key and an enrolment was refused as if a TOTP were active.
func (db *Store) PutTOTP(ctx context.Context, t mfa.TOTP) error {
	return db.tx(ctx, "put totp", func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockUser(ctx, tx, t.UserID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM mfa_totp WHERE user_id = ? AND confirmed_at IS NULL`), t.UserID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO mfa_totp (user_id, secret, created_at, confirmed_at) VALUES (?, ?, ?, ?)`),
			t.UserID, t.Secret, micros(t.CreatedAt), nullMicros(t.ConfirmedAt))
		return err
	})
}

// TOTP returns the user's TOTP or auth.ErrNotFound.
func (db *Store) TOTP(ctx context.Context, userID string) (mfa.TOTP, error) {
	var (
		t         = mfa.TOTP{UserID: userID}
		created   int64
		confirmed sql.NullInt64
	)
	err := db.queryRow(ctx, "load totp", `SELECT secret, created_at, confirmed_at FROM mfa_totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &created, &confirmed)
	if err != nil {
		return mfa.TOTP{}, db.wrap("load totp", err)
	}
	t.CreatedAt, t.ConfirmedAt = fromMicros(created), fromNullMicros(confirmed)
	return t, nil
}

// ConfirmTOTP activates the pending TOTP created at created.
func (db *Store) ConfirmTOTP(ctx context.Context, userID string, created, at time.Time) error {
	return db.execOne(ctx, "confirm totp",
		`UPDATE mfa_totp SET confirmed_at = ? WHERE user_id = ? AND created_at = ? AND confirmed_at IS NULL`,
		micros(at), userID, micros(created))
}

// DeleteTOTP removes the user's TOTP; auth.ErrNotFound when absent. The
// user ID is the primary key (one TOTP per user), so the DELETE runs again
// after a dead connection (deleteByKey), and then finding no TOTP is
// success: the run whose answer was lost may have deleted it.
func (db *Store) DeleteTOTP(ctx context.Context, userID string) error {
	return db.deleteByKey(ctx, "delete totp", `DELETE FROM mfa_totp WHERE user_id = ?`, userID)
}

// AcceptTOTPStep moves the user's last accepted step forward, in one
// statement: the conditional upsert changes no row for a step at or before
// the stored one, so two concurrent uses of one code cannot both win.
func (db *Store) AcceptTOTPStep(ctx context.Context, userID string, step int64, _ time.Time) (bool, error) {
	n, err := db.exec(ctx, "accept totp step",
		`INSERT INTO mfa_totp_steps (user_id, last_step) VALUES (?, ?)
		 ON CONFLICT (user_id) DO UPDATE SET last_step = excluded.last_step WHERE mfa_totp_steps.last_step < excluded.last_step`,
		userID, step)
	return n == 1, err
}

// ReplaceRecoveryCodes replaces the user's recovery codes with hashes.
// Concurrent replaces leave one set: they take the user's lock first.
func (db *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes []string, at time.Time) error {
	return db.tx(ctx, "replace recovery codes", func(ctx context.Context, tx *sql.Tx) error {
		if err := db.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM mfa_recovery_codes WHERE user_id = ?`), userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`),
				userID, h, micros(at)); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused code as used; auth.ErrNotFound when the
// user has no unused code with hash.
func (db *Store) UseRecoveryCode(ctx context.Context, userID, hash string, at time.Time) error {
	return db.execOne(ctx, "use recovery code",
		`UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
		micros(at), userID, hash)
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (db *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := db.queryRow(ctx, "count recovery codes",
		`SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL`, userID).Scan(&n)
	return n, db.wrap("count recovery codes", err)
}

// DeleteRecoveryCodes removes every recovery code of the user.
func (db *Store) DeleteRecoveryCodes(ctx context.Context, userID string) error {
	_, err := db.exec(ctx, "delete recovery codes", `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID)
	return err
}
