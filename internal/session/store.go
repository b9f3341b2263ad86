package session

import (
	"context"
	"time"
)

// Record is a session as stored. ID is the public session ID: the base64url
// SHA-256 of the cookie value, so a leaked store holds no usable cookie.
type Record struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// IdleExpiresAt is LastSeenAt + idle timeout; ExpiresAt is the absolute
	// end. A store that expires keys by itself (Redis) uses the earlier one.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	IP            string
	UserAgent     string
	// Method is how the user logged in: "password" or "oidc:<provider>".
	Method string
	// AMR lists the RFC 8176 authentication methods of the login ("pwd",
	// "otp", "hwk", "mfa", …); nil when unknown (sessions from before).
	AMR []string
}

// Store is the key/value-with-expiry persistence behind Manager. Expiry is
// enforced by Manager; a store may drop expired records earlier but must not
// keep returning them after DeleteExpiredSessions.
//
// Errors: auth.ErrNotFound for a missing session, auth.ErrConflict when ID
// exists, auth.ErrUnavailable (wrapped) when the backend does not answer.
type Store interface {
	// CreateSession stores r, whose ID is fresh (Manager.Create draws it);
	// auth.ErrConflict when the ID exists.
	CreateSession(ctx context.Context, r Record) error
	Session(ctx context.Context, id string) (Record, error)
	// TouchSession records activity: sets LastSeenAt and IdleExpiresAt.
	// auth.ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error
	// DeleteSession removes one session; auth.ErrNotFound when absent. A
	// store that ran the delete twice (the SQL stores, after a dead
	// connection) may answer nil for a session that was already gone: nil
	// means the session is gone, not that this call ended it.
	DeleteSession(ctx context.Context, id string) error
	// UserSessions lists a user's sessions (any order, may include expired).
	UserSessions(ctx context.Context, userID string) ([]Record, error)
	// DeleteUserSessions removes every session of userID except keepID
	// ("" keeps none) and returns the IDs it removed.
	DeleteUserSessions(ctx context.Context, userID, keepID string) ([]string, error)
	// DeleteExpiredSessions purges records whose idle or absolute expiry is
	// before now and returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
