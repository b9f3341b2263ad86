package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// UserLookup finds the user behind a session (user.Store implements it).
type UserLookup interface {
	UserByID(ctx context.Context, id string) (auth.User, error)
}

// Authenticator turns a request's session cookie into a Principal. It keeps
// a short-lived local cache (cache_ttl) so that a hot session costs a map
// lookup, not a store round trip; revocation events drop entries at once,
// and the cache is bypassed entirely while trust() is false (the
// revocation feed is not in sync), so a stale cache never allows.
type Authenticator struct {
	manager *Manager
	users   UserLookup
	ttl     time.Duration
	trust   func() bool
	cache   *sessionCache // nil when ttl is 0
}

// NewAuthenticator returns an Authenticator. ttl 0 disables the cache;
// trust nil means always trusted (single process, no shared store).
func NewAuthenticator(m *Manager, users UserLookup, ttl time.Duration, trust func() bool) *Authenticator {
	if trust == nil {
		trust = func() bool { return true }
	}
	a := &Authenticator{manager: m, users: users, ttl: ttl, trust: trust}
	if ttl > 0 {
		a.cache = newSessionCache(m.now)
	}
	return a
}

// Manager returns the session manager.
func (a *Authenticator) Manager() *Manager { return a.manager }

// AuthenticateSession returns the principal of r's session cookie;
// auth.ErrUnauthenticated when there is none or it is dead, a wrapped
// auth.ErrUnavailable when a store does not answer.
func (a *Authenticator) AuthenticateSession(r *http.Request) (auth.Principal, error) {
	p, _, err := a.Authenticate(r.Context(), a.manager.CookieValue(r))
	return p, err
}

// Authenticate is AuthenticateSession for a cookie value; it also returns
// the session record.
func (a *Authenticator) Authenticate(ctx context.Context, cookieValue string) (auth.Principal, Record, error) {
	if !plausibleCookie(cookieValue) {
		return auth.Principal{}, Record{}, auth.ErrUnauthenticated
	}
	id := IDFromCookie(cookieValue)
	if p, rec, ok := a.fromCache(id); ok {
		return p, rec, nil
	}
	// Read before the store: a revocation from here on stops the store
	// call below from caching what it read (cache.Put).
	gen := a.generation()
	now := a.manager.now()
	rec, err := a.manager.LookupID(ctx, id)
	if err != nil {
		return auth.Principal{}, Record{}, err
	}
	u, err := a.users.UserByID(ctx, rec.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.Principal{}, Record{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return auth.Principal{}, Record{}, fmt.Errorf("load session user: %w", err)
	}
	if u.Disabled {
		return auth.Principal{}, Record{}, fmt.Errorf("%w: %w", auth.ErrUnauthenticated, auth.ErrDisabled)
	}
	p := auth.Principal{Subject: u.ID, Username: u.Username, Roles: u.Roles, Method: auth.MethodSession,
		SessionID: rec.ID, ExpiresAt: rec.ExpiresAt, AMR: rec.AMR}
	a.store(gen, id, cached{principal: p, rec: rec}, now)
	return p, rec, nil
}
