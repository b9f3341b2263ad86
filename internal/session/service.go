package session

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Service is everything the HTTP endpoints do with sessions: authenticate a
// request (through the Authenticator's cache), start a session at login,
// list and revoke the caller's sessions, clear the cookie. Callers never
// reach the store, so expiry, ownership and revocation broadcast stay here.
type Service struct {
	*Manager
	authn *Authenticator
}

// NewService returns the Service over a's Manager.
func NewService(a *Authenticator) *Service { return &Service{Manager: a.Manager(), authn: a} }

// Authenticate returns the principal and session record of r's session
// cookie: auth.ErrUnauthenticated when there is none or it is dead, a
// wrapped auth.ErrUnavailable when a store does not answer.
func (s *Service) Authenticate(r *http.Request) (auth.Principal, Record, error) {
	return s.authn.Authenticate(r.Context(), s.CookieValue(r))
}
