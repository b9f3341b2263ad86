package sqldb

import (
	"context"
	"time"
)

// Inbound back-channel logout (oidc.LogoutStore): the gatehouse sessions an
// OIDC login made, by provider sid and subject, and the logout token IDs
// already accepted.

// LinkProviderSession records that gatehouse session sessionID (public ID)
// came from provider's session providerSID ("" when the provider sent none)
// for subject, until expiresAt.
func (db *Store) LinkProviderSession(ctx context.Context, provider, providerSID, subject, userID, sessionID string, now, expiresAt time.Time) error {
	_, err := db.exec(ctx, "link provider session",
		`INSERT INTO oidc_login_sessions (session_id, provider, provider_sid, subject, user_id, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		sessionID, provider, providerSID, subject, userID, micros(now), micros(expiresAt))
	return err
}

// MoveProviderSession makes the link of session oldID (if any) name the
// session newID that replaced it, until expiresAt.
func (db *Store) MoveProviderSession(ctx context.Context, oldID, newID string, expiresAt time.Time) error {
	_, err := db.exec(ctx, "move provider session",
		`UPDATE oidc_login_sessions SET session_id = ?, expires_at = ? WHERE session_id = ?`,
		newID, micros(expiresAt), oldID)
	return err
}

// ProviderSessionIDs returns the gatehouse sessions, live at now, that
// provider's session providerSID made — only those of subject when subject
// is not "" — or, when providerSID is "", every one made for subject.
func (db *Store) ProviderSessionIDs(ctx context.Context, provider, providerSID, subject string, now time.Time) ([]string, error) {
	if providerSID == "" && subject == "" {
		return nil, nil
	}
	q := `SELECT session_id FROM oidc_login_sessions WHERE provider = ? AND expires_at > ?`
	args := []any{provider, micros(now)}
	if providerSID != "" {
		q += ` AND provider_sid = ?`
		args = append(args, providerSID)
	}
	if subject != "" {
		q += ` AND subject = ?`
		args = append(args, subject)
	}
	return queryAll(ctx, db, "list provider sessions", func(row scanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, q+` ORDER BY created_at, session_id`, args...)
}

// UseLogoutJTI records that provider's logout token jti was accepted; kept
// until expiresAt. A jti seen before is auth.ErrConflict.
func (db *Store) UseLogoutJTI(ctx context.Context, provider, jti string, expiresAt time.Time) error {
	_, err := db.exec(ctx, "use logout token id",
		`INSERT INTO oidc_logout_jtis (provider, jti, expires_at) VALUES (?, ?, ?)`, provider, jti, micros(expiresAt))
	return err
}

// ReleaseLogoutJTI forgets an accepted jti, so that the provider may send
// the token again after gatehouse failed to act on it.
func (db *Store) ReleaseLogoutJTI(ctx context.Context, provider, jti string) error {
	_, err := db.exec(ctx, "release logout token id",
		`DELETE FROM oidc_logout_jtis WHERE provider = ? AND jti = ?`, provider, jti)
	return err
}

// DeleteExpiredProviderSessions purges session links and logout token IDs
// that expired before now, PurgeBatch at a time, and returns how many rows
// it removed.
func (db *Store) DeleteExpiredProviderSessions(ctx context.Context, now time.Time) (int, error) {
	sessions, err := db.purge(ctx, "purge provider sessions", "oidc_login_sessions", "session_id", `expires_at <= ?`, micros(now))
	if err != nil {
		return sessions, err
	}
	jtis, err := db.purge(ctx, "purge provider sessions", "oidc_logout_jtis", "provider, jti", `expires_at <= ?`, micros(now))
	return sessions + jtis, err
}
