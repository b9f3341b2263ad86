package user

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// WithIdentities stores the external identities (OIDC, OAuth 2.0) linked to
// users. Without it the identity methods fail with auth.ErrUnavailable.
func WithIdentities(st IdentityStore) Option { return func(s *Service) { s.identities = st } }

var errNoIdentities = fmt.Errorf("%w: no identity store configured", auth.ErrUnavailable)

// CreateExternal creates a passwordless account for a login through an
// external provider, under the first of names that is a valid username
// (CheckName) and free, with roles (auth.CheckRoles). It is Create with the
// same rules and the same user.created event; method ("oidc:<provider>")
// goes into the event. Errors: auth.ErrInvalidInput for bad roles,
// auth.ErrConflict when no name is both valid and free.
func (s *Service) CreateExternal(ctx context.Context, names, roles []string, method string) (auth.User, error) {
	if err := auth.CheckRoles(roles); err != nil {
		return auth.User{}, err
	}
	for _, name := range names {
		u, err := s.create(ctx, name, "", roles, map[string]string{"method": method})
		if errors.Is(err, auth.ErrInvalidInput) || errors.Is(err, auth.ErrConflict) {
			continue
		}
		return u, err
	}
	return auth.User{}, fmt.Errorf("create user: %w: no valid free username among %d candidates", auth.ErrConflict, len(names))
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
// and LastLogin are set to now. auth.ErrConflict when issuer+subject is
// already linked (a parallel login linked it first).
func (s *Service) Link(ctx context.Context, id Identity, u auth.User) error {
	if s.identities == nil {
		return errNoIdentities
	}
	now := s.now().UTC()
	id.UserID, id.CreatedAt, id.LastLogin = u.ID, now, now
	if err := s.identities.CreateIdentity(ctx, id); err != nil {
		return fmt.Errorf("link identity: %w", err)
	}
	s.record(ctx, audit.Event{Type: audit.IdentityLinked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"provider": id.Provider, "issuer": id.Issuer, "subject": id.Subject}})
	return nil
}

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
