package sqldb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

var _ user.IdentityStore = (*Store)(nil)

const identityColumns = `issuer, subject, user_id, provider, email, created_at, last_login`

// CreateIdentity links id to id.UserID; auth.ErrConflict when issuer+subject
// is already linked, else user.ErrIssuerLinked when the user is linked to
// another subject of the issuer (the unique index on user_id, issuer);
// auth.ErrNotFound when the user does not exist. The primary key's conflict
// is the one the statement resolves (DO NOTHING, no row): a link that
// breaks both, the same account linked twice to the same user by two
// parallel logins, is "already linked", whose loser logs in as the winner.
func (db *Store) CreateIdentity(ctx context.Context, id user.Identity) error {
	n, err := db.exec(ctx, "create identity",
		`INSERT INTO identities (`+identityColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issuer, subject) DO NOTHING`,
		id.Issuer, id.Subject, id.UserID, id.Provider, id.Email, micros(id.CreatedAt), micros(id.LastLogin))
	switch {
	case errors.Is(err, auth.ErrConflict):
		return fmt.Errorf("create identity: %w", user.ErrIssuerLinked)
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("create identity: %w", auth.ErrConflict)
	}
	return nil
}

// IdentityBySubject returns the identity for issuer+subject, or
// auth.ErrNotFound.
func (db *Store) IdentityBySubject(ctx context.Context, issuer, subject string) (user.Identity, error) {
	id, err := scanIdentity(db.queryRow(ctx, "load identity",
		`SELECT `+identityColumns+` FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject))
	return id, db.wrap("load identity", err)
}

// UserIdentities lists a user's identities, oldest first.
func (db *Store) UserIdentities(ctx context.Context, userID string) ([]user.Identity, error) {
	return queryAll(ctx, db, "list user identities", scanIdentity,
		`SELECT `+identityColumns+` FROM identities WHERE user_id = ? ORDER BY created_at, issuer, subject`, userID)
}

// TouchIdentity sets LastLogin, and Email when email is not ""; auth.ErrNotFound when
// the identity is gone.
func (db *Store) TouchIdentity(ctx context.Context, issuer, subject string, at time.Time, email string) error {
	return db.execOne(ctx, "touch identity",
		`UPDATE identities SET last_login = ?, email = CASE WHEN ? = '' THEN email ELSE ? END WHERE issuer = ? AND subject = ?`,
		micros(at), email, email, issuer, subject)
}

// DeleteIdentity removes the link of issuer+subject (an administrator's
// unlink); auth.ErrNotFound when none is stored. issuer+subject is the
// primary key, so the DELETE runs again after a dead connection
// (deleteByKey), and then finding no link is success: the run whose
// answer was lost may have deleted it.
func (db *Store) DeleteIdentity(ctx context.Context, issuer, subject string) error {
	return db.deleteByKey(ctx, "delete identity", `DELETE FROM identities WHERE issuer = ? AND subject = ?`, issuer, subject)
}

func scanIdentity(row scanner) (user.Identity, error) {
	var (
		id            user.Identity
		created, last int64
	)
	if err := row.Scan(&id.Issuer, &id.Subject, &id.UserID, &id.Provider, &id.Email, &created, &last); err != nil {
		return user.Identity{}, err
	}
	id.CreatedAt, id.LastLogin = fromMicros(created), fromMicros(last)
	return id, nil
}
