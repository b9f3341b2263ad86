package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// DefaultClientID is the client_id of tokens whose request named none.
const DefaultClientID = "gatehouse"

// tokenForm parses an application/x-www-form-urlencoded body and refuses
// repeated parameters (RFC 6749 §3.2).
func tokenForm(r *http.Request) (func(string) string, string) {
	if !isForm(r) {
		return nil, "the body must be application/x-www-form-urlencoded"
	}
	if err := r.ParseForm(); err != nil {
		return nil, "malformed form body"
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, "parameter " + k + " is repeated"
		}
	}
	return r.PostForm.Get, ""
}

// handleToken is the RFC 6749 token endpoint: password and refresh_token grants.
func (s *server) handleToken() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get, problem := tokenForm(r)
		if problem != "" {
			httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, problem)
			return
		}
		var (
			pair token.Pair
			err  error
		)
		switch get("grant_type") {
		case "password":
			if !s.Settings.PasswordGrant {
				httperr.OAuth(w, http.StatusBadRequest, httperr.UnsupportedGrantType, "the password grant is disabled")
				return
			}
			if get("username") == "" || get("password") == "" {
				httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, "username and password are required")
				return
			}
			pair, err = s.passwordGrant(r, get)
		case "refresh_token":
			if get("refresh_token") == "" {
				httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, "refresh_token is required")
				return
			}
			pair, err = s.Grants.Refresh(r.Context(), get("refresh_token"))
			if err == nil {
				s.metrics.Token("refreshed")
			} else if errors.Is(err, auth.ErrReused) {
				s.metrics.Token("reuse_detected")
			}
		case "":
			httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, "grant_type is required")
			return
		default:
			httperr.OAuth(w, http.StatusBadRequest, httperr.UnsupportedGrantType, "")
			return
		}
		if err != nil {
			s.tokenError(w, r, err)
			return
		}
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": pair.AccessToken, "token_type": "Bearer", "expires_in": pair.ExpiresIn,
			"refresh_token": pair.RefreshToken, "scope": pair.Scope,
		})
	})
}

func (s *server) passwordGrant(r *http.Request, get func(string) string) (token.Pair, error) {
	u, err := s.Users.Login(r.Context(), user.Attempt{
		Username: get("username"), Password: get("password"), IP: clientIP(r), Via: "token",
	})
	if err != nil {
		return token.Pair{}, err
	}
	if s.MFA != nil {
		f, err := s.MFA.Factors(r.Context(), u.ID)
		if err != nil {
			return token.Pair{}, err
		}
		needs := len(s.Settings.RequireMFARoles) > 0 && auth.Principal{Roles: u.Roles}.HasAnyRole(s.Settings.RequireMFARoles)
		if f.Enrolled() || needs {
			return token.Pair{}, errMFARequired
		}
	}
	clientID := get("client_id")
	if clientID == "" {
		clientID = DefaultClientID
	}
	pair, err := s.Grants.Start(r.Context(), u, clientID, get("scope"))
	if err == nil {
		s.metrics.Token("issued")
	}
	return pair, err
}

// tokenError answers a failed grant with its RFC 6749 error (httperr's
// OAuth table): bad credentials and dead refresh tokens are invalid_grant,
// throttling 429, outages 503.
func (s *server) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errMFARequired) {
		httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidGrant, "mfa_required")
		return
	}
	switch {
	case errors.Is(err, auth.ErrThrottled):
		s.countLoginFailure("throttled")
	case errors.Is(err, auth.ErrOverloaded):
		s.countLoginFailure("overloaded")
	case errors.Is(err, auth.ErrInvalidCredentials):
		s.countLoginFailure("invalid_credentials")
	}
	s.logInternal(r, httperr.WriteOAuth(w, err), err)
}

// handleRevoke is RFC 7009: 200 whether or not the token was known.
func (s *server) handleRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get, problem := tokenForm(r)
		if problem == "" && get("token") == "" {
			problem = "token is required"
		}
		if problem != "" {
			httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, problem)
			return
		}
		if err := s.Grants.Revoke(r.Context(), get("token"), get("token_type_hint")); err != nil {
			// Only an outage is worth telling the client: it should retry.
			if httperr.Unavailable(err) {
				s.writeError(w, r, err)
				return
			}
			s.log.WarnContext(r.Context(), "revoke failed", "request_id", requestID(r.Context()), "error", err.Error())
		} else {
			s.metrics.Token("revoked")
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}

func (s *server) handleJWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short: a rotated key is used at once, and verifiers also refetch
		// on an unknown kid.
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(s.Keys.JWKS())
	})
}

// handleMetadata is the RFC 8414 authorization server metadata.
func (s *server) handleMetadata() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := s.Settings.PublicURL
		grants := []string{"refresh_token"}
		if s.Settings.PasswordGrant {
			grants = []string{"password", "refresh_token"}
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                     base,
			"token_endpoint":                             base + "/auth/token",
			"jwks_uri":                                   base + "/.well-known/jwks.json",
			"revocation_endpoint":                        base + "/auth/revoke",
			"userinfo_endpoint":                          base + "/auth/userinfo",
			"grant_types_supported":                      grants,
			"response_types_supported":                   []string{},
			"token_endpoint_auth_methods_supported":      []string{"none"},
			"revocation_endpoint_auth_methods_supported": []string{"none"},
			"access_token_signing_alg_values_supported":  []string{s.Settings.Algorithm},
		})
	})
}

// handleUserinfo answers for a bearer token or, without an Authorization
// header, a session: the same credential.FromRequest and precedence as a
// gateway route with auth: any. 401s carry the RFC 6750 challenge: plain
// for no credential or another scheme, error="invalid_request" for two
// Authorization headers, error="invalid_token" for a bearer that does not
// verify.
func (s *server) handleUserinfo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := credential.FromRequest(r, s.Sessions.CookieName(), credential.Any)
		var (
			p   auth.Principal
			err error
		)
		bearer := c.Kind == credential.Token && !errors.Is(c.Err, credential.ErrScheme)
		switch {
		case c.Kind != credential.Token:
			p, _, err = s.currentSession(r)
		case errors.Is(c.Err, credential.ErrDuplicate):
			w.Header().Set("WWW-Authenticate", httperr.Challenge+`, error="invalid_request"`)
			httperr.JSON(w, http.StatusUnauthorized, httperr.InvalidRequest)
			return
		case c.Err != nil:
			err = fmt.Errorf("%w: %w", auth.ErrUnauthenticated, c.Err)
		default:
			p, err = s.Verifier.Verify(r.Context(), c.Value)
		}
		if err != nil {
			if bearer && !httperr.Unavailable(err) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
				httperr.JSON(w, http.StatusUnauthorized, httperr.InvalidToken)
				return
			}
			s.writeError(w, r, err) // 401 with the plain challenge, or 503
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"sub": p.Subject, "username": p.Username, "roles": nonNil(p.Roles)})
	})
}

// errMFARequired: the password grant cannot carry a second factor, so a
// user with one (or who must enrol one) is refused (contract section 9).
var errMFARequired = errors.New("second factor required")
