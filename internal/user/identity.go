package user

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
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

// ErrIssuerLinked is the refusal to link an identity to a user who is
// linked to another account (another subject) of the same issuer already:
// one account per issuer and user (docs/oidc.md), which the store enforces
// so that two simultaneous link_by_email logins cannot both link. It is an
// auth.ErrConflict.
var ErrIssuerLinked = fmt.Errorf("%w: the user is already linked to another account of this issuer", auth.ErrConflict)

// IdentityStore persists external identities.
//
// Errors: auth.ErrNotFound, auth.ErrConflict (issuer+subject already linked),
// auth.ErrUnavailable (wrapped).
type IdentityStore interface {
	// CreateIdentity links id to id.UserID: auth.ErrConflict (not
	// ErrIssuerLinked) when issuer+subject is linked already, to any user;
	// else ErrIssuerLinked when id.UserID is linked to another subject of
	// id.Issuer; auth.ErrNotFound when the user does not exist.
	CreateIdentity(ctx context.Context, id Identity) error
	// IdentityBySubject finds the identity for issuer+subject.
	IdentityBySubject(ctx context.Context, issuer, subject string) (Identity, error)
	// UserIdentities lists a user's linked identities.
	UserIdentities(ctx context.Context, userID string) ([]Identity, error)
	// TouchIdentity records a login: it sets LastLogin to at and, when
	// email is not "", Email to email (an empty one keeps the stored
	// email); auth.ErrNotFound when the identity is gone.
	TouchIdentity(ctx context.Context, issuer, subject string, at time.Time, email string) error
	// DeleteIdentity removes the link of issuer+subject; auth.ErrNotFound
	// when there is none.
	DeleteIdentity(ctx context.Context, issuer, subject string) error
}
