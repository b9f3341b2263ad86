package session

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
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

// Live is a live session a request names, with its principal.
type Live struct {
	Principal auth.Principal
	Record    Record
}

// AuthenticateAll returns every live session r's session cookies name:
// one for an ordinary request, more when a browser holds the cookie under
// several paths or domains. Such a request authenticates as none
// (Authenticate), but its logout ends each session it names. Dead and
// malformed values are skipped; any other failure (a wrapped
// auth.ErrUnavailable) is returned, so that a logout fails closed.
func (s *Service) AuthenticateAll(r *http.Request) ([]Live, error) {
	var live []Live
	for _, v := range credential.SessionCookies(r.Header, s.CookieName()) {
		p, rec, err := s.authn.Authenticate(r.Context(), v)
		switch {
		case err == nil:
			live = append(live, Live{Principal: p, Record: rec})
		case !errors.Is(err, auth.ErrUnauthenticated):
			return nil, err
		}
	}
	return live, nil
}
