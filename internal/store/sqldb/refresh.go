package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

var _ token.RefreshStore = (*Store)(nil)

// A token's FamilyExpiresAt and RevokedAt live on its family row, so that
// revoking a family revokes every token of it, including successors stored
// after the revocation.
const refreshSelect = `SELECT t.hash, t.family_id, t.user_id, t.client_id, t.scope, t.issued_at, t.expires_at,
	f.expires_at, t.used_at, f.revoked_at, f.amr, f.ip, f.no_refresh, f.client_registration, f.created_at
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

const refreshInsert = `INSERT INTO refresh_tokens (hash, family_id, user_id, client_id, scope, issued_at, expires_at, used_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// pendingRevocationKeep is how long RevokeFamily keeps the revocation of a
// family that is not stored yet for CreateRefresh: far longer than an
// authorization code (60 s) and its redemption can take, and bounded so
// that DeleteExpiredRefresh forgets revocations whose family never came.
const pendingRevocationKeep = 24 * time.Hour

// CreateRefresh stores r as the first token of the new family r.FamilyID,
// whose absolute end is r.FamilyExpiresAt (r.ExpiresAt when zero).
// auth.ErrConflict when the family or hash exists, auth.ErrNotFound when
// r.UserID is not a user. A family that RevokeFamily revoked before it was
// stored is stored revoked, and the error is auth.ErrRevoked.
//
// A family of a stored client (r.ClientRegistration set) is stored only
// while that registration of r.ClientID is, which the transaction checks
// under the client's lock (LockClient): a grant that authenticated the
// client before DeleteClient committed either stores its family first, for
// the revocation that follows the deletion to find, or stores nothing and
// gets auth.ErrRevoked (the client was deleted, or deleted and registered
// again).
func (db *Store) CreateRefresh(ctx context.Context, r token.Refresh) error {
	familyEnd := r.FamilyExpiresAt
	if familyEnd.IsZero() {
		familyEnd = r.ExpiresAt
	}
	amr, err := encodeJSON(r.AMR, "[]")
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	var revoked sql.NullInt64
	err = db.tx(ctx, "create refresh token", func(ctx context.Context, tx *sql.Tx) error {
		if r.ClientRegistration != "" {
			reg, err := db.lockClient(ctx, tx, r.ClientID)
			if errors.Is(err, sql.ErrNoRows) || err == nil && reg != r.ClientRegistration {
				return fmt.Errorf("the registration of client %q was deleted while the grant ran: %w", r.ClientID, auth.ErrRevoked)
			}
			if err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, db.Rebind(
			`INSERT INTO refresh_families (id, user_id, client_id, client_registration, created_at, expires_at, amr, ip, no_refresh, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT revoked_at FROM refresh_family_revocations WHERE family_id = ?))
			RETURNING revoked_at`),
			r.FamilyID, r.UserID, r.ClientID, r.ClientRegistration, micros(r.IssuedAt), micros(familyEnd), amr, r.IP, r.NoRefresh,
			r.FamilyID).Scan(&revoked); err != nil {
			return err
		}
		return insertRefresh(ctx, db, tx, r)
	})
	if err != nil {
		return err
	}
	if !revoked.Valid {
		// A RevokeFamily running alongside may have missed this family (not
		// committed yet) and stored its revocation after the INSERT above
		// looked (PostgreSQL's read committed; SQLite's one writer cannot
		// interleave them). It commits that revocation before looking for
		// the family again, so looking for the revocation now that the
		// family is committed means one of the two sees the other. The read
		// pool sees every commit (SQLite's WAL readers; PostgreSQL reads on
		// the write pool).
		err := db.queryRow(ctx, "create refresh token",
			`SELECT revoked_at FROM refresh_family_revocations WHERE family_id = ?`, r.FamilyID).Scan(&revoked)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return db.wrap("create refresh token", err)
		}
		if revoked.Valid {
			if _, err := db.exec(ctx, "create refresh token",
				`UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, revoked.Int64, r.FamilyID); err != nil {
				return err
			}
		}
	}
	if revoked.Valid {
		return fmt.Errorf("create refresh token: family revoked before it was stored: %w", auth.ErrRevoked)
	}
	return nil
}

func insertRefresh(ctx context.Context, db *Store, tx *sql.Tx, r token.Refresh) error {
	_, err := tx.ExecContext(ctx, db.Rebind(refreshInsert),
		r.Hash, r.FamilyID, r.UserID, r.ClientID, r.Scope, micros(r.IssuedAt), micros(r.ExpiresAt), nullMicros(r.UsedAt))
	return err
}

// Refresh returns the token with hash, whatever its state, or
// auth.ErrNotFound.
func (db *Store) Refresh(ctx context.Context, hash string) (token.Refresh, error) {
	r, err := scanRefresh(db.queryRow(ctx, "load refresh token", refreshSelect+` WHERE t.hash = ?`, hash))
	return r, db.wrap("load refresh token", err)
}

// RotateRefresh marks hash used at now and stores next in the same family,
// in one transaction of conditional updates:
//
//  1. touch the family row only if it is not revoked — this takes the row
//     lock that RevokeFamily also needs, so the two serialise;
//  2. set used_at only if the token is unused and unexpired at now.
//
// Only when both touch exactly one row is next inserted. Otherwise nothing is
// stored, and the token as read inside the transaction decides the error:
// auth.ErrNotFound, auth.ErrRevoked (family revoked), auth.ErrReused
// (already used, checked before expiry so that a replayed old token is
// always reported as reuse) or auth.ErrExpired. The old record is returned
// with every outcome where it exists.
//
// next.FamilyID, UserID and ClientID default to the old token's; a different
// FamilyID is auth.ErrInvalidInput. next.FamilyExpiresAt is ignored: the
// family's end was fixed when it started.
func (db *Store) RotateRefresh(ctx context.Context, hash string, now time.Time, next token.Refresh) (token.Refresh, error) {
	var old token.Refresh
	err := db.tx(ctx, "rotate refresh token", func(ctx context.Context, tx *sql.Tx) error {
		n, err := execTx(ctx, db, tx,
			`UPDATE refresh_families SET rotated_at = ?
			 WHERE id = (SELECT family_id FROM refresh_tokens WHERE hash = ?) AND revoked_at IS NULL`,
			micros(now), hash)
		if err == nil && n == 1 {
			n, err = execTx(ctx, db, tx,
				`UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
				micros(now), hash, micros(now))
		}
		if err != nil {
			return err
		}
		old, err = scanRefresh(tx.QueryRowContext(ctx, db.Rebind(refreshSelect+` WHERE t.hash = ?`), hash))
		if err != nil {
			return err
		}
		if n != 1 {
			return rotateRefusal(old, now)
		}
		old.UsedAt = time.Time{} // as it was before this call
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("successor names another family: %w", auth.ErrInvalidInput)
		}
		return insertRefresh(ctx, db, tx, successor(old, next))
	})
	if errors.Is(err, auth.ErrNotFound) {
		return token.Refresh{}, err
	}
	return old, err
}

// rotateRefusal says why a token that exists could not be rotated.
func rotateRefusal(old token.Refresh, now time.Time) error {
	switch {
	case !old.RevokedAt.IsZero():
		return auth.ErrRevoked
	case !old.UsedAt.IsZero():
		return auth.ErrReused
	case !old.ExpiresAt.After(now):
		return auth.ErrExpired
	}
	return fmt.Errorf("token changed during rotation: %w", auth.ErrConflict)
}

func successor(old, next token.Refresh) token.Refresh {
	if next.FamilyID == "" {
		next.FamilyID = old.FamilyID
	}
	if next.UserID == "" {
		next.UserID = old.UserID
	}
	if next.ClientID == "" {
		next.ClientID = old.ClientID
	}
	next.UsedAt = time.Time{}
	return next
}

// RevokeFamily revokes the family and so every token in it, present and
// future. Revoking a revoked family keeps the first revocation time. A
// family not stored yet is auth.ErrNotFound and revoked all the same: an
// authorization code replayed while its first redemption runs revokes the
// family that redemption is about to store, so the revocation is kept (for
// pendingRevocationKeep) and CreateRefresh stores that family revoked.
func (db *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	const revoke = `UPDATE refresh_families SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`
	var found bool
	err := db.tx(ctx, "revoke refresh family", func(ctx context.Context, tx *sql.Tx) error {
		n, err := execTx(ctx, db, tx, revoke, micros(now), familyID)
		if err != nil || n > 0 {
			found = n > 0
			return err
		}
		_, err = execTx(ctx, db, tx,
			`INSERT INTO refresh_family_revocations (family_id, revoked_at) VALUES (?, ?) ON CONFLICT (family_id) DO NOTHING`,
			familyID, micros(now))
		return err
	})
	if err != nil || found {
		return err
	}
	// A CreateRefresh committing while the transaction above ran may have
	// looked for the revocation before it was committed; now that it is,
	// look for the family again (see CreateRefresh).
	n, err := db.exec(ctx, "revoke refresh family", revoke, micros(now), familyID)
	if err == nil && n == 0 {
		err = db.wrap("revoke refresh family", sql.ErrNoRows)
	}
	return err
}

// RevokeUserFamilies revokes every family of userID that is neither revoked
// nor past its absolute end at now, and returns them.
func (db *Store) RevokeUserFamilies(ctx context.Context, userID string, now time.Time) ([]token.Family, error) {
	return db.revokeFamilies(ctx, "revoke user refresh families", "user_id", userID, now)
}

// RevokeClientFamilies revokes every family of clientID that is neither
// revoked nor past its absolute end at now, and returns them.
func (db *Store) RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) ([]token.Family, error) {
	return db.revokeFamilies(ctx, "revoke client refresh families", "client_id", clientID, now)
}

// revokeFamilies revokes the live families whose column (a constant of
// this file, never input) is value.
func (db *Store) revokeFamilies(ctx context.Context, op, column, value string, now time.Time) ([]token.Family, error) {
	var fams []token.Family
	err := db.tx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, db.Rebind(
			`UPDATE refresh_families SET revoked_at = ?
			 WHERE `+column+` = ? AND revoked_at IS NULL AND expires_at > ? RETURNING id, expires_at, no_refresh`),
			micros(now), value, micros(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				f   token.Family
				end int64
			)
			if err := rows.Scan(&f.ID, &end, &f.NoRefresh); err != nil {
				return err
			}
			f.ExpiresAt = fromMicros(end)
			fams = append(fams, f)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return fams, nil
}

const familyColumns = `id, user_id, client_id, created_at, expires_at, COALESCE(rotated_at, 0), COALESCE(revoked_at, 0), amr, ip, no_refresh`

// UserFamilies lists userID's families not past their absolute end at now.
func (db *Store) UserFamilies(ctx context.Context, userID string, now time.Time) ([]token.Family, error) {
	return queryAll(ctx, db, "list refresh families", scanFamily,
		`SELECT `+familyColumns+` FROM refresh_families WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id`,
		userID, micros(now))
}

// Family returns the family with id, or auth.ErrNotFound.
func (db *Store) Family(ctx context.Context, id string) (token.Family, error) {
	f, err := scanFamily(db.queryRow(ctx, "load refresh family", `SELECT `+familyColumns+` FROM refresh_families WHERE id = ?`, id))
	return f, db.wrap("load refresh family", err)
}

func scanFamily(row scanner) (token.Family, error) {
	var (
		f                                  token.Family
		created, expires, rotated, revoked int64
		amr                                string
	)
	if err := row.Scan(&f.ID, &f.UserID, &f.ClientID, &created, &expires, &rotated, &revoked, &amr, &f.IP, &f.NoRefresh); err != nil {
		return token.Family{}, err
	}
	if err := decodeAMR(amr, &f.AMR); err != nil {
		return token.Family{}, err
	}
	f.CreatedAt, f.ExpiresAt, f.RotatedAt, f.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(rotated), fromMicros(revoked)
	return f, nil
}

// DeleteExpiredRefresh removes families past their absolute end at now with
// all their tokens, PurgeBatch families per transaction, and returns the
// number of tokens removed. Used tokens of live families stay: they are what
// detects reuse. Tokens go by cascade from their family, so this locks
// family before token rows, in the same order as RotateRefresh, and the two
// cannot deadlock. Revocations kept for families not stored yet go
// pendingRevocationKeep after they were made.
func (db *Store) DeleteExpiredRefresh(ctx context.Context, now time.Time) (int, error) {
	const batch = `SELECT id FROM refresh_families WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?`
	total := 0
	for {
		var tokens int
		var families int64
		err := db.tx(ctx, "delete expired refresh tokens", func(ctx context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM refresh_tokens WHERE family_id IN (`+batch+`)`),
				micros(now), PurgeBatch).Scan(&tokens); err != nil {
				return err
			}
			var err error
			families, err = execTx(ctx, db, tx, `DELETE FROM refresh_families WHERE id IN (`+batch+`)`, micros(now), PurgeBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += tokens
		if families < PurgeBatch {
			break
		}
	}
	_, err := db.purge(ctx, "delete expired refresh tokens", "refresh_family_revocations", "family_id",
		`revoked_at <= ?`, micros(now.Add(-pendingRevocationKeep)))
	return total, err
}

func execTx(ctx context.Context, db *Store, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, db.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func scanRefresh(row scanner) (token.Refresh, error) {
	var (
		r                          token.Refresh
		issued, expires, familyEnd int64
		familyStart                int64
		used, revoked              sql.NullInt64
		amr                        string
	)
	if err := row.Scan(&r.Hash, &r.FamilyID, &r.UserID, &r.ClientID, &r.Scope, &issued, &expires,
		&familyEnd, &used, &revoked, &amr, &r.IP, &r.NoRefresh, &r.ClientRegistration, &familyStart); err != nil {
		return token.Refresh{}, err
	}
	if err := decodeAMR(amr, &r.AMR); err != nil {
		return token.Refresh{}, err
	}
	r.IssuedAt, r.ExpiresAt, r.FamilyExpiresAt = fromMicros(issued), fromMicros(expires), fromMicros(familyEnd)
	r.FamilyCreatedAt = fromMicros(familyStart)
	r.UsedAt, r.RevokedAt = fromNullMicros(used), fromNullMicros(revoked)
	return r, nil
}

// decodeAMR reads a family's amr column; an empty list is nil.
func decodeAMR(s string, amr *[]string) error {
	if err := decodeJSON(s, amr); err != nil {
		return err
	}
	if len(*amr) == 0 {
		*amr = nil
	}
	return nil
}
