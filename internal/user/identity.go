package user

import (
	"context"
	"time"
)

// Identity links an external account (issuer + subject) to one local user.
type Identity struct {
	Issuer    string
	Subject   string
	UserID    string
	Provider  string // configured provider name
	Email     string
	CreatedAt time.Time
	LastLogin time.Time
}

// IdentityStore persists external identities.
//
// Errors: auth.ErrNotFound, auth.ErrConflict (issuer+subject already linked),
// auth.ErrUnavailable (wrapped).
type IdentityStore interface {
	CreateIdentity(ctx context.Context, id Identity) error
	// IdentityBySubject finds the identity for issuer+subject.
	IdentityBySubject(ctx context.Context, issuer, subject string) (Identity, error)
	// UserIdentities lists a user's linked identities.
	UserIdentities(ctx context.Context, userID string) ([]Identity, error)
	// TouchIdentity sets LastLogin.
	TouchIdentity(ctx context.Context, issuer, subject string, at time.Time) error
	// DeleteIdentity removes the link of issuer+subject; auth.ErrNotFound
	// when there is none.
	DeleteIdentity(ctx context.Context, issuer, subject string) error
}
