package user

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// WithIdentities stores the external identities (OIDC, OAuth 2.0) linked to
// users. Without it the identity methods fail with auth.ErrUnavailable.
func WithIdentities(st IdentityStore) Option { return func(s *Service) { s.identities = st } }

var errNoIdentities = fmt.Errorf("%w: no identity store configured", auth.ErrUnavailable)

// ErrIdentityLinked is the refusal to link an identity (issuer+subject)
// that is linked already: a parallel login linked it first, and the login
// goes on as that link's user. It is an auth.ErrConflict.
var ErrIdentityLinked = fmt.Errorf("%w: the identity is already linked", auth.ErrConflict)

// cleanupTimeout bounds the deletion of an account whose identity could
// not be linked; it runs even when the request's context is done.
const cleanupTimeout = 5 * time.Second

// CreateExternal creates a passwordless account for a login through an
// external provider and links id to it (Link). The account gets the first
// of names that is a valid username (CheckName) and free, and roles
// (auth.CheckRoles); it is Create with the same rules and the same
// user.created event, and method ("oidc:<provider>") goes into the event.
// When the link fails the account is deleted again (user.deleted, same
// method, reason identity_not_linked): an account without its identity can
// never log in, and the next login would create a second one under the next
// name. Errors: auth.ErrInvalidInput for bad roles, auth.ErrConflict when
// no name is both valid and free, ErrIdentityLinked when a parallel login
// linked id first (log in as its user), else Link's error.
func (s *Service) CreateExternal(ctx context.Context, names, roles []string, method string, id Identity) (auth.User, error) {
	if err := auth.CheckRoles(roles); err != nil {
		return auth.User{}, err
	}
	if s.identities == nil {
		return auth.User{}, errNoIdentities
	}
	for _, name := range names {
		u, err := s.create(ctx, name, "", roles, map[string]string{"method": method})
		if errors.Is(err, auth.ErrInvalidInput) || errors.Is(err, auth.ErrConflict) {
			continue
		}
		if err != nil {
			return auth.User{}, err
		}
		if err := s.Link(ctx, id, u); err != nil {
			return auth.User{}, s.dropUnlinked(ctx, u, method, err)
		}
		return u, nil
	}
	return auth.User{}, fmt.Errorf("create user: %w: no valid free username among %d candidates", auth.ErrConflict, len(names))
}

// dropUnlinked deletes u, just created for an identity whose link failed
// with linkErr, and returns linkErr. When the deletion fails too, its error
// is the one returned (linkErr only as text): the caller must not go on as
// if a lost race (ErrIdentityLinked) had been cleaned up. ctx may be what
// failed the link (the client went away): the deletion runs regardless.
func (s *Service) dropUnlinked(ctx context.Context, u auth.User, method string, linkErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return fmt.Errorf("delete user %q left without its identity (%v): %w", u.Username, linkErr, err)
	}
	s.record(ctx, audit.Event{Type: audit.UserDeleted, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"method": method, "reason": "identity_not_linked"}})
	return linkErr
}

// Identity returns the identity linked to issuer+subject; auth.ErrNotFound
// when none is.
func (s *Service) Identity(ctx context.Context, issuer, subject string) (Identity, error) {
	if s.identities == nil {
		return Identity{}, errNoIdentities
	}
	id, err := s.identities.IdentityBySubject(ctx, issuer, subject)
	if err != nil {
		return Identity{}, fmt.Errorf("find identity: %w", err)
	}
	return id, nil
}

// Identities lists the identities linked to userID.
func (s *Service) Identities(ctx context.Context, userID string) ([]Identity, error) {
	if s.identities == nil {
		return nil, errNoIdentities
	}
	ids, err := s.identities.UserIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return ids, nil
}

// Link records that id logs in as u and writes identity.linked. CreatedAt
// and LastLogin are set to now. ErrIssuerLinked when u is linked to
// another account of id.Issuer (a parallel login of that account linked
// it first); ErrIdentityLinked when issuer+subject is already linked (a
// parallel login linked it first).
func (s *Service) Link(ctx context.Context, id Identity, u auth.User) error {
	if s.identities == nil {
		return errNoIdentities
	}
	now := s.now().UTC()
	id.UserID, id.CreatedAt, id.LastLogin = u.ID, now, now
	err := s.identities.CreateIdentity(ctx, id)
	if errors.Is(err, ErrIssuerLinked) {
		return fmt.Errorf("link identity: %w", err)
	}
	if errors.Is(err, auth.ErrConflict) {
		return fmt.Errorf("link identity: %w", ErrIdentityLinked)
	}
	if err != nil {
		return fmt.Errorf("link identity: %w", err)
	}
	s.record(ctx, audit.Event{Type: audit.IdentityLinked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"provider": id.Provider, "issuer": id.Issuer, "subject": id.Subject}})
	return nil
}

// Unlink removes the link of the external account issuer+subject to the
// user name, writes oidc.unlinked and then ends every session and refresh
// family of the user, as LogoutEverywhere does: an administrator's remedy
// when the provider gave the account's address to another account, which
// link_by_email refuses while the user is linked to another account of
// that issuer, and when an account was linked wrongly — whoever logged in
// through it must not stay signed in. Sessions do not record the account
// they came from (only "oidc:<provider>") and token grants not even that,
// so all of them end. The next login of the unlinked account
// is a first login again. via names the channel ("cli", "admin"); the
// event's "actor" is via unless the request names an acting administrator
// (audit.SetActor).
//
// Errors: auth.ErrNotFound for an unknown user, and a *NotLinkedError
// (also auth.ErrNotFound) for a link that is not the user's (another
// user's, which stays, or none); a failed sign-out is
// returned after the link is gone (and audited): `user logout` ends the
// sessions then.
func (s *Service) Unlink(ctx context.Context, name, issuer, subject, via string) (auth.User, error) {
	if s.identities == nil {
		return auth.User{}, errNoIdentities
	}
	u, err := s.Get(ctx, name)
	if err != nil {
		return auth.User{}, err
	}
	notLinked := &NotLinkedError{Username: u.Username, Issuer: issuer, Subject: subject}
	// No stored identity holds such text; PostgreSQL would refuse it
	// where SQLite matches nothing (the admin console posts it in a form).
	if !auth.StorableText(issuer) || !auth.StorableText(subject) {
		return auth.User{}, notLinked
	}
	id, err := s.identities.IdentityBySubject(ctx, issuer, subject)
	switch {
	case errors.Is(err, auth.ErrNotFound), err == nil && id.UserID != u.ID:
		return auth.User{}, notLinked
	case err != nil:
		return auth.User{}, fmt.Errorf("unlink identity: %w", err)
	}
	if err := s.identities.DeleteIdentity(ctx, issuer, subject); err != nil {
		return auth.User{}, fmt.Errorf("unlink identity: %w", err)
	}
	s.record(ctx, audit.Event{Type: audit.IdentityUnlinked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"provider": id.Provider, "issuer": id.Issuer, "subject": id.Subject,
			"via": via, "actor": via, "sessions": "all"}})
	// After the delete: a login through the account that lands before it
	// would otherwise outlive the sign-out.
	if err := s.RevokeAll(ctx, u); err != nil {
		return u, fmt.Errorf("identity unlinked, but: %w", err)
	}
	return u, nil
}

// NotLinkedError is Unlink's error for an external account (Issuer,
// Subject) that is not linked to the user Username: linked to nobody, or
// to another user, whom it does not name. errors.Is finds
// auth.ErrNotFound in it.
type NotLinkedError struct{ Username, Issuer, Subject string }

func (e *NotLinkedError) Error() string {
	return fmt.Sprintf("%s has no linked account with issuer %q and subject %q", e.Username, e.Issuer, e.Subject)
}

// Unwrap returns auth.ErrNotFound.
func (e *NotLinkedError) Unwrap() error { return auth.ErrNotFound }

// TouchIdentity records a login through issuer+subject (LastLogin = now).
func (s *Service) TouchIdentity(ctx context.Context, issuer, subject string) error {
	if s.identities == nil {
		return errNoIdentities
	}
	if err := s.identities.TouchIdentity(ctx, issuer, subject, s.now().UTC()); err != nil {
		return fmt.Errorf("touch identity: %w", err)
	}
	return nil
}
