package token

import (
	"context"
	"time"
)

// Refresh is a stored refresh token. Hash is the base64url SHA-256 of the
// opaque token; the token itself is never stored. FamilyID is the grant's
// family, which is also the access tokens' sid claim.
type Refresh struct {
	Hash     string
	FamilyID string
	UserID   string
	ClientID string
	Scope    string
	IssuedAt time.Time
	// ExpiresAt is the earlier of the idle expiry (IssuedAt+refresh_idle_ttl)
	// and FamilyExpiresAt (the absolute end set when the family started).
	ExpiresAt       time.Time
	FamilyExpiresAt time.Time
	UsedAt          time.Time // zero while unused
	RevokedAt       time.Time // zero unless the family was revoked
	// AMR (RFC 8176) of the login the family came from; kept on the family
	// (fixed when it starts), so every refreshed access token carries it.
	AMR []string
	// IP is the client IP the family started from (on the family; set by
	// CreateRefresh, ignored by RotateRefresh).
	IP string
	// NoRefresh marks a family whose refresh token is never handed out
	// (on the family; set by CreateRefresh): it ends with its one access
	// token, which may outlive tokens.access_ttl (`gatehouse token issue
	// --ttl`), so revoking it denies its sid until FamilyExpiresAt.
	NoRefresh bool
	// ClientRegistration is the registration of ClientID the family was
	// granted to (client.Client.Registration; "" for a config or built-in
	// client), on the family: set by CreateRefresh, ignored by
	// RotateRefresh. Only that registration may refresh the family.
	ClientRegistration string
	// FamilyCreatedAt is when the family began (on the family; read by
	// Refresh and RotateRefresh, ignored when storing).
	FamilyCreatedAt time.Time
}

// Family is a refresh family (one grant): as returned by RevokeUserFamilies
// and RevokeClientFamilies (ID, ExpiresAt and NoRefresh only) and
// UserFamilies (every field).
type Family struct {
	ID        string
	UserID    string
	ClientID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt time.Time // zero before the first refresh
	RevokedAt time.Time // zero while live
	AMR       []string  // of the login the family came from
	IP        string    // the client IP it started from ("" unknown)
	NoRefresh bool      // no refresh token: it ends with its access token (Refresh.NoRefresh)
}

// RefreshStore persists refresh tokens and their families.
//
// Errors: auth.ErrNotFound, auth.ErrReused, auth.ErrRevoked, auth.ErrExpired,
// auth.ErrConflict, auth.ErrUnavailable (wrapped).
type RefreshStore interface {
	// CreateRefresh stores the first token of a new family. A family that
	// RevokeFamily named before it existed is stored revoked, and
	// CreateRefresh returns auth.ErrRevoked. A family of a stored client
	// (r.ClientRegistration set) is stored only while that registration
	// of r.ClientID is stored, checked in the same transaction under a
	// lock that DeleteClient waits for; otherwise nothing is stored and
	// the error is auth.ErrRevoked.
	CreateRefresh(ctx context.Context, r Refresh) error
	// Refresh reads a token by hash (used, revoked and expired included).
	Refresh(ctx context.Context, hash string) (Refresh, error)
	// RotateRefresh atomically marks the token `hash` used at now and stores
	// next (same family) — only if the token is unused, unexpired at now and
	// its family is not revoked. It is a conditional update in one
	// transaction, never read-then-write: of N concurrent calls with the same
	// hash exactly one succeeds. Otherwise it returns auth.ErrReused (already
	// used), auth.ErrRevoked, auth.ErrExpired or auth.ErrNotFound, and stores
	// nothing. The returned record is the old token as it was before.
	RotateRefresh(ctx context.Context, hash string, now time.Time, next Refresh) (Refresh, error)
	// RevokeFamily revokes every token of a family, current and future: a
	// rotation racing with it either fails or its successor is revoked too.
	// For a family not stored yet it returns auth.ErrNotFound and records
	// the revocation, which the family's CreateRefresh then meets (a code
	// replay racing the first redemption).
	RevokeFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeUserFamilies revokes every live family of a user and returns them.
	RevokeUserFamilies(ctx context.Context, userID string, now time.Time) ([]Family, error)
	// RevokeClientFamilies revokes every live family of a client and
	// returns them (ID, ExpiresAt and NoRefresh only).
	RevokeClientFamilies(ctx context.Context, clientID string, now time.Time) ([]Family, error)
	// UserFamilies lists the families of userID that have not passed their
	// absolute end at now (revoked ones included), newest first.
	UserFamilies(ctx context.Context, userID string, now time.Time) ([]Family, error)
	// Family returns one family by ID, or auth.ErrNotFound.
	Family(ctx context.Context, familyID string) (Family, error)
	// DeleteExpiredRefresh purges tokens and families past their absolute
	// expiry; returns the number of tokens removed.
	DeleteExpiredRefresh(ctx context.Context, now time.Time) (int, error)
}
