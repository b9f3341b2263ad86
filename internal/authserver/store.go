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
	// StoredClient, when AddConsent is given it, says that ClientID is a
	// client of client.Store (registered at run time), not one of the config
	// file: AddConsent then saves the consent only while that client is
	// still stored, so that a consent saved while its client is deleted
	// never outlives it. Stores return it false.
	StoredClient bool
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
	// AddConsent adds c.Scopes to the consent of c.UserID to c.ClientID
	// (creating it) and sets its GrantedAt, in one step: concurrent adds
	// keep every scope, and an add racing DeleteConsent ends as if one ran
	// after the other (never the deleted scopes back with the new ones).
	AddConsent(ctx context.Context, c Consent) error
	UserConsents(ctx context.Context, userID string) ([]Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// SessionGrant records that a client got tokens (family FamilyID) in
// browser session SessionID.
type SessionGrant struct {
	FamilyID  string
	SessionID string
	// SID is the sid the client was told (its ID token's, and the one its
	// back-channel logout names): the session the grant was made in.
	// SessionID differs from it once a step-up moved the grant to its
	// successor session (MoveSessionGrants). "" when written means
	// SessionID; stores return it set.
	SID       string
	ClientID  string
	UserID    string
	CreatedAt time.Time
}

// Delivery is one queued back-channel logout.
type Delivery struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string // the sid the logout token names (SessionGrant.SID)
	Attempts  int
	Deadline  time.Time
}

// LogoutStore keeps which apps hold tokens from which session and the
// durable outbox of back-channel logouts.
//
// Errors: auth.ErrNotFound, auth.ErrUnavailable (wrapped).
type LogoutStore interface {
	AddSessionGrant(ctx context.Context, g SessionGrant) error
	// UserSessionGrants lists the grants of a user's sessions.
	UserSessionGrants(ctx context.Context, userID string) ([]SessionGrant, error)
	// EndSession, in one transaction, takes the session's grants (so that
	// of several instances reacting to the same logout exactly one gets
	// them), revokes their refresh families, and queues one delivery per
	// client and grant SID (a Delivery's SessionID is that SID), due at now
	// and given up after deadline. It returns the grants.
	EndSession(ctx context.Context, sessionID string, now, deadline time.Time) ([]SessionGrant, error)
	// MoveSessionGrants hands the grants of userID's session from to
	// session to, which succeeded it (a step-up), keeping each grant's SID,
	// and returns how many it moved. Grants of another user, or made in
	// from after the move, stay where they are. The deliveries EndSession
	// later queues for them name their SID, one per SID and client.
	MoveSessionGrants(ctx context.Context, userID, from, to string) (int, error)
	// ClaimLogouts leases up to limit due deliveries to owner until
	// now+lease with a conditional UPDATE: a delivery is leased by one
	// owner at a time, and a crashed owner's lease runs out.
	ClaimLogouts(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishLogout records the outcome of owner's attempt: delivered, or
	// retry at next, or (next zero) given up.
	FinishLogout(ctx context.Context, id, owner string, now time.Time, delivered bool, next time.Time) error
	// ReleaseLogouts gives up owner's leases on the deliveries it claimed
	// and has not finished (an instance shutting down), so that another
	// instance claims them at once instead of when the lease runs out.
	ReleaseLogouts(ctx context.Context, owner string) error
	// DeleteExpiredLogouts deletes the deliveries whose deadline is before
	// before (delivered, given up, or no longer worth sending) and returns
	// how many.
	DeleteExpiredLogouts(ctx context.Context, before time.Time) (int, error)
	// DeleteSessionGrants deletes the grants made before before (of
	// sessions that can no longer be live) and returns how many.
	DeleteSessionGrants(ctx context.Context, before time.Time) (int, error)
}
