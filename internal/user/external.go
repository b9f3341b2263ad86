package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// Provider is a configured login provider as an administrator's link
// names it: its name (oidc.providers[].name) and the issuer that its
// logins record as the account's (oidc.Provider.AccountIssuer).
type Provider struct{ Name, Issuer string }

// WithProviders are the login providers LinkAccount can link accounts of,
// in configuration order.
func WithProviders(ps []Provider) Option {
	return func(s *Service) { s.providers = slices.Clone(ps) }
}

// Providers lists the login providers LinkAccount knows, in
// configuration order.
func (s *Service) Providers() []Provider { return slices.Clone(s.providers) }

// ErrUnknownProvider is LinkAccount's refusal of a provider name that no
// oidc.providers entry has. It is an auth.ErrInvalidInput.
var ErrUnknownProvider = fmt.Errorf("%w: unknown login provider", auth.ErrInvalidInput)

// MaxIdentifierLen bounds, in bytes, an external account's identifiers
// that gatehouse stores in indexed columns (an identity's sub, a
// provider-session link's sid): OIDC Core §2 allows a sub of at most 255
// ASCII characters; OIDC Back-Channel Logout 1.0 gives sid the syntax of a
// client ID and no limit, and real providers send UUID-sized ones.
// PostgreSQL refuses index entries over about 2.7 KB, which would fail the
// login as a store error.
const MaxIdentifierLen = 255

// ValidIdentifier reports whether s may be stored as an external
// account's identifier: at most MaxIdentifierLen bytes and no control
// character (PostgreSQL text cannot hold NUL; neither spec allows
// controls). The one rule for a login's sub and sid, a logout token's
// identifiers and an administrator's link.
func ValidIdentifier(s string) bool {
	return len(s) <= MaxIdentifierLen && !strings.ContainsFunc(s, unicode.IsControl)
}

// LinkAccount is an administrator's link: the account subject of the
// configured login provider named provider logs in as the user name from
// now on, exactly as if a login had linked it (docs/admin.md, "One
// link"). The issuer is the provider's (Provider.Issuer), so that it is
// the one its logins look up; the identity has no email (nobody verified
// one) and no last login. It writes oidc.linked with via ("cli",
// "admin") and actor as Unlink does (audit.SetActor names the acting
// administrator).
//
// The user's sessions and token grants are left alone: nothing was taken
// away from them. A disabled user can be linked (their logins stay
// refused until they are enabled).
//
// The account linked to this user already is no refusal: an
// administrator who repeats a link (a retried request, a second click)
// gets what they asked for. LinkAccount then returns the link as stored
// (its email and last login included) with linked false, changes nothing
// and writes no event; linked is true when it stored a new link.
//
// Errors: ErrUnknownProvider, or another auth.ErrInvalidInput for a
// subject that is empty, over MaxIdentifierLen bytes, not UTF-8, holds a
// control character or begins or ends with white space (no login could
// ever match it); auth.ErrNotFound for an unknown user; a
// *LinkConflictError (an auth.ErrConflict) when the account is linked to
// another user, or the user is linked to another account of that issuer
// (ErrIssuerLinked: one account per issuer and user).
func (s *Service) LinkAccount(ctx context.Context, name, provider, subject, via string) (u auth.User, id Identity, linked bool, err error) {
	if s.identities == nil {
		return auth.User{}, Identity{}, false, errNoIdentities
	}
	p, err := s.provider(provider)
	if err != nil {
		return auth.User{}, Identity{}, false, err
	}
	if err := checkSubject(subject); err != nil {
		return auth.User{}, Identity{}, false, err
	}
	if u, err = s.Get(ctx, name); err != nil {
		return auth.User{}, Identity{}, false, err
	}
	id = Identity{Issuer: p.Issuer, Subject: subject, UserID: u.ID, Provider: p.Name, CreatedAt: s.now().UTC()}
	switch err := s.identities.CreateIdentity(ctx, id); {
	case errors.Is(err, ErrIssuerLinked):
		return auth.User{}, Identity{}, false, s.issuerLinked(ctx, u, id, err)
	case errors.Is(err, auth.ErrConflict):
		stored, err := s.identityLinked(ctx, u, id)
		if err != nil {
			return auth.User{}, Identity{}, false, err
		}
		return u, stored, false, nil
	case err != nil:
		return auth.User{}, Identity{}, false, fmt.Errorf("link identity: %w", err)
	}
	s.record(ctx, audit.Event{Type: audit.IdentityLinked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"provider": id.Provider, "issuer": id.Issuer, "subject": id.Subject,
			"via": via, "actor": via}})
	return u, id, true, nil
}

// provider is the configured provider name, or ErrUnknownProvider naming
// the configured ones.
func (s *Service) provider(name string) (Provider, error) {
	if i := slices.IndexFunc(s.providers, func(p Provider) bool { return p.Name == name }); i >= 0 {
		return s.providers[i], nil
	}
	if name == "" {
		return Provider{}, fmt.Errorf("%w: provider is required", auth.ErrInvalidInput)
	}
	if len(s.providers) == 0 {
		return Provider{}, fmt.Errorf("%w %.64q: no login provider is configured (oidc.providers)", ErrUnknownProvider, name)
	}
	names := make([]string, 0, len(s.providers))
	for _, p := range s.providers {
		names = append(names, p.Name)
	}
	return Provider{}, fmt.Errorf("%w %.64q: oidc.providers names %s", ErrUnknownProvider, name, strings.Join(names, ", "))
}

// checkSubject refuses a subject that no login's sub can equal: the
// login refuses a sub that is not a ValidIdentifier, and no provider's sub
// begins or ends with white space (a pasted one that does would link
// nothing that can sign in).
func checkSubject(sub string) error {
	switch {
	case sub == "":
		return fmt.Errorf("%w: subject is required", auth.ErrInvalidInput)
	case !ValidIdentifier(sub) || !utf8.ValidString(sub):
		return fmt.Errorf("%w: subject must be UTF-8 of at most %d bytes without control characters, as a provider's sub is", auth.ErrInvalidInput, MaxIdentifierLen)
	case strings.TrimSpace(sub) != sub:
		return fmt.Errorf("%w: subject begins or ends with white space; give it exactly as the provider sends it", auth.ErrInvalidInput)
	}
	return nil
}

// issuerLinked is LinkAccount's refusal to link id to u, who is linked to
// another account of id.Issuer (cause, ErrIssuerLinked), naming that
// account when it can be found.
func (s *Service) issuerLinked(ctx context.Context, u auth.User, id Identity, cause error) error {
	e := &LinkConflictError{Username: u.Username, Issuer: id.Issuer, Subject: id.Subject, err: cause}
	if ids, err := s.identities.UserIdentities(ctx, u.ID); err == nil {
		if i := slices.IndexFunc(ids, func(o Identity) bool { return o.Issuer == id.Issuer }); i >= 0 {
			e.OtherSubject = ids[i].Subject
		}
	}
	return e
}

// identityLinked handles LinkAccount's id, which the store found linked
// already: linked to u, it returns the stored link; linked to another
// user, a *LinkConflictError naming that user when it can be found (the
// caller is an administrator, who may list every user anyway). A store
// that cannot tell whose link it is fails the link: it may be u's own.
func (s *Service) identityLinked(ctx context.Context, u auth.User, id Identity) (Identity, error) {
	e := &LinkConflictError{Username: u.Username, Issuer: id.Issuer, Subject: id.Subject, err: ErrIdentityLinked}
	stored, err := s.identities.IdentityBySubject(ctx, id.Issuer, id.Subject)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return Identity{}, e // unlinked since: a retry links it
	case err != nil:
		return Identity{}, fmt.Errorf("link identity: %w", err)
	case stored.UserID == u.ID:
		return stored, nil
	}
	if owner, err := s.store.UserByID(ctx, stored.UserID); err == nil {
		e.LinkedTo = owner.Username
	}
	return Identity{}, e
}

// LinkConflictError is LinkAccount's refusal of a link that exists
// already for another user (errors.Is finds ErrIdentityLinked; LinkedTo is
// that user, "" when it could not be read) or that would give the user
// Username a second account of the issuer (ErrIssuerLinked; OtherSubject
// is the one linked). Both are auth.ErrConflict.
type LinkConflictError struct {
	Username, Issuer, Subject string
	LinkedTo                  string
	OtherSubject              string
	err                       error
}

func (e *LinkConflictError) Error() string {
	switch {
	case errors.Is(e.err, ErrIssuerLinked) && e.OtherSubject != "":
		return fmt.Sprintf("%s is already linked to another account of issuer %q (subject %q), and a user has one account per issuer: unlink that one first", e.Username, e.Issuer, e.OtherSubject)
	case errors.Is(e.err, ErrIssuerLinked):
		return fmt.Sprintf("%s is already linked to another account of issuer %q, and a user has one account per issuer: unlink that one first", e.Username, e.Issuer)
	case e.LinkedTo != "":
		return fmt.Sprintf("the account with issuer %q and subject %q is already linked to %s", e.Issuer, e.Subject, e.LinkedTo)
	}
	return fmt.Sprintf("the account with issuer %q and subject %q is already linked", e.Issuer, e.Subject)
}

// Unwrap returns ErrIssuerLinked or ErrIdentityLinked.
func (e *LinkConflictError) Unwrap() error { return e.err }

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

// TouchIdentity records a login through issuer+subject: LastLogin = now,
// and Email = email unless email is "". The caller passes the address the
// provider verified at this login, as a login's link stores it (""
// when it verified none): an administrator's link has no email until
// then (LinkAccount), and a provider's verified address may change; an
// unverified one never replaces the stored one.
func (s *Service) TouchIdentity(ctx context.Context, issuer, subject, email string) error {
	if s.identities == nil {
		return errNoIdentities
	}
	if err := s.identities.TouchIdentity(ctx, issuer, subject, s.now().UTC(), email); err != nil {
		return fmt.Errorf("touch identity: %w", err)
	}
	return nil
}
