package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/revocation"
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

	mu      sync.Mutex
	entries map[string]cached // by session ID
}

type cached struct {
	principal auth.Principal
	rec       Record
	at        time.Time
}

// maxCached bounds the cache; past it the cache is reset (simple, and a
// miss only costs one store read).
const maxCached = 100_000

// NewAuthenticator returns an Authenticator. ttl 0 disables the cache;
// trust nil means always trusted (single process, no shared store).
func NewAuthenticator(m *Manager, users UserLookup, ttl time.Duration, trust func() bool) *Authenticator {
	if trust == nil {
		trust = func() bool { return true }
	}
	return &Authenticator{manager: m, users: users, ttl: ttl, trust: trust, entries: map[string]cached{}}
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
	now := a.manager.now()
	if p, rec, ok := a.fromCache(id, now); ok {
		return p, rec, nil
	}
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
		SessionID: rec.ID, ExpiresAt: rec.ExpiresAt}
	a.store(id, cached{principal: p, rec: rec, at: now})
	return p, rec, nil
}

func (a *Authenticator) fromCache(id string, now time.Time) (auth.Principal, Record, bool) {
	if a.ttl <= 0 || !a.trust() {
		return auth.Principal{}, Record{}, false
	}
	a.mu.Lock()
	e, ok := a.entries[id]
	a.mu.Unlock()
	if !ok || now.Sub(e.at) >= a.ttl || a.manager.Expired(e.rec, now) {
		return auth.Principal{}, Record{}, false
	}
	return e.principal, e.rec, true
}

func (a *Authenticator) store(id string, e cached) {
	if a.ttl <= 0 {
		return
	}
	a.mu.Lock()
	if len(a.entries) >= maxCached {
		a.entries = map[string]cached{}
	}
	a.entries[id] = e
	a.mu.Unlock()
}

// Forget applies a revocation event to the cache: a session event drops
// that session, a user event every session of the user.
func (a *Authenticator) Forget(ev revocation.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch ev.Kind {
	case revocation.KindSession:
		delete(a.entries, ev.Key)
	case revocation.KindUser:
		for id, e := range a.entries {
			if e.principal.Subject == ev.Key {
				delete(a.entries, id)
			}
		}
	}
}
