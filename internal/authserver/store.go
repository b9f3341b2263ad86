package authserver

import (
	"context"
	"time"
)

// Code is a stored authorization code. Hash is the base64url SHA-256 of
// the code; the code itself is never stored.
type Code struct {
	Hash        string
	ClientID    string
	UserID      string
	SessionID   string // the browser session it was issued in
	RedirectURI string
	Challenge   string // PKCE S256 code_challenge
	Nonce       string
	Scope       string // granted scopes, space-separated
	// FamilyID is chosen when the code is issued and becomes the sid of
	// every token redeemed from it, so that a replay can revoke them even
	// while the first redemption is still running.
	FamilyID  string
	AuthTime  time.Time
	AMR       []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Consent is what a user allowed a client.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Store persists codes and consents.
//
// Errors: auth.ErrNotFound, auth.ErrConflict, auth.ErrReused,
// auth.ErrExpired, auth.ErrUnavailable (wrapped).
type Store interface {
	CreateCode(ctx context.Context, c Code) error
	// RedeemCode marks code hash used at now, in one conditional update:
	// of N concurrent calls exactly one succeeds. It returns the code as
	// stored; a used code is auth.ErrReused together with the record (so
	// that the caller can revoke what it produced), an expired one
	// auth.ErrExpired, an unknown one auth.ErrNotFound.
	RedeemCode(ctx context.Context, hash string, now time.Time) (Code, error)
	// DeleteExpiredCodes purges codes that expired before now.
	DeleteExpiredCodes(ctx context.Context, now time.Time) (int, error)

	Consent(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent creates or replaces the consent of c.UserID to c.ClientID.
	SaveConsent(ctx context.Context, c Consent) error
	UserConsents(ctx context.Context, userID string) ([]Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
}
