package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// DefaultClientID is the client_id of tokens whose request named none.
const DefaultClientID = client.BuiltinID

// tokenForm parses an application/x-www-form-urlencoded body and refuses
// repeated parameters (RFC 6749 §3.2), and any query in the URL: the token
// and revocation endpoints take their parameters from the body only
// (RFC 6749 §3.2, RFC 7009 §2.1), and a client_secret, password, code or
// token put in the URL ends up in the logs of every proxy on the way, so
// the client is told at once rather than served with the query ignored.
func tokenForm(r *http.Request) (func(string) string, string) {
	if r.URL.RawQuery != "" {
		return nil, "parameters must be sent in the request body, not in the URL query"
	}
	if !isForm(r) {
		return nil, "the body must be application/x-www-form-urlencoded"
	}
	if err := r.ParseForm(); err != nil {
		if d := unread(err); d != "" {
			return nil, d
		}
		return nil, "malformed form body"
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, "parameter " + k + " is repeated"
		}
	}
	return r.PostForm.Get, ""
}

// handleToken is the RFC 6749 token endpoint: authorization_code,
// client_credentials, refresh_token and password grants (contract §4, §8).
func (s *server) handleToken() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get, problem := tokenForm(r)
		if problem != "" {
			httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, problem)
			return
		}
		grant := get("grant_type")
		if grant == "" {
			httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidRequest, "grant_type is required")
			return
		}
		if !slices.Contains([]string{"password", "refresh_token", "authorization_code", "client_credentials"}, grant) ||
			s.Apps == nil && (grant == "authorization_code" || grant == "client_credentials") {
			httperr.OAuth(w, http.StatusBadRequest, httperr.UnsupportedGrantType, "")
			return
		}
		if grant == "password" {
			// Shed before the client lookup and any store work.
			release, err := s.Users.AdmitLogin(r.Context(), clientIP(r))
			if err != nil {
				s.tokenError(w, r, err)
				return
			}
			defer release()
		}
		cl, ok := s.clientOf(w, r, get)
		if !ok {
			return
		}
		var (
			out authserver.Tokens
			err error
		)
		switch grant {
		case "password":
			out, err = s.passwordGrant(r, get, cl)
		case "refresh_token":
			out, err = s.refreshGrant(r, get, cl)
		case "authorization_code":
			if cl == nil {
				err = fmt.Errorf("authorization_code needs client_id: %w", client.ErrInvalidClient)
				break
			}
			out, err = s.Apps.Exchange(r.Context(), *cl, get("code"), get("redirect_uri"), get("code_verifier"))
			if errors.Is(err, auth.ErrReused) {
				s.metrics.Token("reuse_detected")
			}
			if errors.Is(err, token.ErrInvalidGrant) {
				err = httperr.Describe(err, httperr.CodeRefused)
			}
		case "client_credentials":
			if cl == nil {
				err = fmt.Errorf("client_credentials needs client authentication: %w", client.ErrInvalidClient)
				break
			}
			out, err = s.Apps.ClientCredentials(r.Context(), *cl, get("scope"))
		}
		if err != nil {
			s.tokenError(w, r, err)
			return
		}
		s.metrics.Token(map[bool]string{true: "refreshed", false: "issued"}[grant == "refresh_token"])
		body := map[string]any{
			"access_token": out.AccessToken, "token_type": "Bearer", "expires_in": out.ExpiresIn, "scope": out.Scope,
		}
		if out.RefreshToken != "" {
			body["refresh_token"] = out.RefreshToken
		}
		if out.IDToken != "" {
			body["id_token"] = out.IDToken
		}
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, body)
	})
}

// clientOf authenticates the calling client, or answers the refusal (401
// invalid_client with the Basic challenge: tokenError) and returns false.
func (s *server) clientOf(w http.ResponseWriter, r *http.Request, get func(string) string) (*client.Client, bool) {
	cl, err := s.authenticateClient(r, get)
	if err != nil {
		s.tokenError(w, r, err)
		return nil, false
	}
	return cl, true
}

// authenticateClient reads client credentials (RFC 6749 §2.3.1: HTTP
// Basic, or client_id and client_secret in the body, never both) and
// checks them; nil without any client_id, or with the built-in client's
// (client.BuiltinID, without a secret: the same request). Two
// Authorization headers, like Basic with a client_secret in the body, are
// invalid_request (RFC 6749 §5.2: more than one authentication method;
// neither is picked). A Basic header that cannot be read (not base64, no
// ':') is invalid_client: the client attempted Basic, so the body's
// credentials do not stand in for it.
// Failures are throttled per client_id and IP like password logins.
func (s *server) authenticateClient(r *http.Request, get func(string) string) (*client.Client, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return nil, fmt.Errorf("two Authorization headers: %w", authserver.ErrInvalidRequest)
	}
	id, secret, ok := r.BasicAuth()
	basic := usesBasic(r.Header)
	if basic && !ok {
		return nil, fmt.Errorf("unreadable Basic credentials: %w", client.ErrInvalidClient)
	}
	if basic {
		if get("client_secret") != "" || (get("client_id") != "" && get("client_id") != mustUnescape(id)) {
			return nil, fmt.Errorf("two client authentication methods: %w", authserver.ErrInvalidRequest)
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic.
		var e1, e2 error
		id, e1 = url.QueryUnescape(id)
		secret, e2 = url.QueryUnescape(secret)
		if e1 != nil || e2 != nil {
			return nil, fmt.Errorf("malformed Basic credentials: %w", client.ErrInvalidClient)
		}
	} else {
		id, secret = get("client_id"), get("client_secret")
	}
	if id == "" {
		if secret != "" || basic {
			return nil, fmt.Errorf("client_secret without client_id: %w", client.ErrInvalidClient)
		}
		return nil, nil
	}
	if id == client.BuiltinID {
		// The built-in client named (as every client is named to Keycloak
		// or Hydra) is the built-in client left out: it has no secret,
		// so one sent cannot be right, and nothing is worth throttling.
		if secret != "" {
			return nil, fmt.Errorf("a secret for the built-in client: %w", client.ErrInvalidClient)
		}
		return nil, nil
	}
	if s.Clients == nil {
		return nil, fmt.Errorf("no client registry: %w", client.ErrInvalidClient)
	}
	key, ip := "client:"+id, clientIP(r)
	if s.ClientLimiter != nil {
		if err := s.ClientLimiter.Check(r.Context(), key, ip); err != nil {
			return nil, err
		}
	}
	c, err := s.Clients.Authenticate(r.Context(), id, secret)
	if s.ClientLimiter != nil {
		switch {
		case errors.Is(err, client.ErrInvalidClient):
			_ = s.ClientLimiter.Failure(r.Context(), key, ip)
		case err == nil && secret != "":
			_ = s.ClientLimiter.Success(r.Context(), key, ip)
		}
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// usesBasic reports whether an Authorization header of h names the Basic
// scheme (case-insensitive, RFC 9110 §11.1), readable or not.
func usesBasic(h http.Header) bool {
	for _, v := range h.Values("Authorization") {
		if scheme, _, _ := strings.Cut(v, " "); strings.EqualFold(scheme, "Basic") {
			return true
		}
	}
	return false
}

func mustUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// passwordGrant: for a client listing the password grant, or without
// client_id or with client_id=gatehouse (the built-in client) while
// tokens.password_grant is on. Scopes are those the client may have; the
// built-in client has none, so a requested scope never lands in the token
// unchecked.
func (s *server) passwordGrant(r *http.Request, get func(string) string, cl *client.Client) (authserver.Tokens, error) {
	if get("username") == "" || get("password") == "" {
		return authserver.Tokens{}, fmt.Errorf("username and password are required: %w", authserver.ErrInvalidRequest)
	}
	g := token.Grant{ClientID: DefaultClientID, Refresh: true}
	if cl == nil {
		if !s.Settings.PasswordGrant {
			return authserver.Tokens{}, errPasswordGrantOff
		}
	} else {
		if !cl.AllowsGrant(client.GrantPassword) {
			return authserver.Tokens{}, fmt.Errorf("password grant: %w", authserver.ErrUnauthorizedClient)
		}
		scopes, err := authserver.ParseScope(*cl, get("scope"))
		if err != nil {
			return authserver.Tokens{}, err
		}
		g = token.Grant{ClientID: cl.ID, ClientRegistration: cl.Registration, Scope: strings.Join(scopes, " "),
			Audience: cl.Audience, Refresh: cl.IssuesRefresh(scopes)}
	}
	var step mfa.Step
	u, err := s.Users.Login(r.Context(), user.Attempt{
		Username: get("username"), Password: get("password"), IP: clientIP(r), Via: "token",
		SecondStep: s.loginStep(&step),
	})
	if err != nil {
		return authserver.Tokens{}, describeInput(err)
	}
	if step.Required {
		return authserver.Tokens{}, errMFARequired
	}
	g.User = u
	pair, err := s.Grants.Issue(r.Context(), g)
	err = s.confirmLogin(r, u, "token", err, func(ctx context.Context) error {
		return s.Grants.RevokeGrant(ctx, u.ID, pair.Claims.SessionID, "user_revoked")
	})
	if err != nil {
		return authserver.Tokens{}, err
	}
	return authserver.Tokens{Pair: pair}, nil
}

// refreshGrant: a refresh token is bound to its client, and to the
// registration of its client_id it was granted to (a client registered
// again under a deleted one's ID gets none of its tokens); without
// client_id only tokens of the built-in client refresh. The scope parameter may
// narrow the grant (token.Grants.RefreshFor), and a registered client gets
// only the scopes it may still be given.
func (s *server) refreshGrant(r *http.Request, get func(string) string, cl *client.Client) (authserver.Tokens, error) {
	if get("refresh_token") == "" {
		return authserver.Tokens{}, fmt.Errorf("refresh_token is required: %w", authserver.ErrInvalidRequest)
	}
	req := token.RefreshRequest{Token: get("refresh_token"), ClientID: DefaultClientID, Scope: get("scope")}
	if cl != nil {
		if !cl.AllowsGrant(client.GrantRefreshToken) {
			return authserver.Tokens{}, fmt.Errorf("refresh grant: %w", authserver.ErrUnauthorizedClient)
		}
		req.ClientID, req.ClientRegistration, req.ClientRegisteredAt = cl.ID, cl.Registration, cl.CreatedAt
		req.Audience, req.Allows = cl.Audience, cl.AllowsScope
	}
	pair, err := s.Grants.RefreshFor(r.Context(), req)
	if errors.Is(err, auth.ErrReused) {
		s.metrics.Token("reuse_detected")
	}
	return authserver.Tokens{Pair: pair}, err
}

// tokenError answers a failed grant with its RFC 6749 error (httperr's
// OAuth table): bad credentials and dead refresh tokens are invalid_grant,
// throttling 429, outages 503. invalid_client is 401 with the Basic
// challenge however the client authenticated, or whether it did at all:
// RFC 9110 §15.5.2 requires WWW-Authenticate on every 401, and RFC 6749
// §5.2 names the scheme the client should use (client_secret_basic).
func (s *server) tokenError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, client.ErrInvalidClient) {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	}
	if errors.Is(err, errMFARequired) {
		httperr.OAuth(w, http.StatusBadRequest, httperr.InvalidGrant, "mfa_required")
		return
	}
	if errors.Is(err, errPasswordGrantOff) {
		httperr.OAuth(w, http.StatusBadRequest, httperr.UnsupportedGrantType, "the password grant is disabled")
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

var errPasswordGrantOff = errors.New("the password grant is disabled")

// handleRevoke is RFC 7009: 200 whether or not the token was known. A
// client that authenticates revokes only its own tokens (§2.1); without
// client credentials only tokens of public clients and of the built-in
// client can be revoked (holding such a token is all the proof there is).
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
		cl, ok := s.clientOf(w, r, get)
		if !ok {
			return
		}
		mine := func(clientID string) bool { return clientID == cl.ID }
		if cl == nil {
			mine = func(clientID string) bool {
				if clientID == DefaultClientID || s.Clients == nil {
					return true
				}
				c, err := s.Clients.Lookup(r.Context(), clientID)
				return err != nil || c.IsPublic()
			}
		}
		if err := s.Grants.RevokeFor(r.Context(), get("token"), get("token_type_hint"), mine); err != nil {
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

// jwksCacheControl lets verifiers cache the JWKS for keys.JWKSMaxAge, the
// one value a scheduled rotation's lead is judged by: short, since a manual
// rotation's key is used at once (verifiers also refetch on an unknown kid).
var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(keys.JWKSMaxAge/time.Second))

func (s *server) handleJWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", jwksCacheControl)
		_, _ = w.Write(s.Keys.JWKS())
	})
}

// handleMetadata serves both the RFC 8414 authorization server metadata
// and OpenID Provider metadata (OIDC Discovery 1.0): one document, real
// values (contract §8).
func (s *server) handleMetadata() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := s.Settings.PublicURL
		grants := []string{"authorization_code", "refresh_token", "client_credentials"}
		if s.Settings.PasswordGrant || s.anyClientAllows(r, client.GrantPassword) {
			grants = append(grants, "password")
		}
		authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
		w.Header().Set("Cache-Control", "public, max-age=300")
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                     base,
			"authorization_endpoint":                     base + "/auth/authorize",
			"token_endpoint":                             base + "/auth/token",
			"jwks_uri":                                   base + "/.well-known/jwks.json",
			"revocation_endpoint":                        base + "/auth/revoke",
			"userinfo_endpoint":                          base + "/auth/userinfo",
			"end_session_endpoint":                       base + "/auth/end_session",
			"scopes_supported":                           []string{"openid", "profile", "email", "offline_access"},
			"response_types_supported":                   []string{"code"},
			"response_modes_supported":                   []string{"query"},
			"grant_types_supported":                      grants,
			"subject_types_supported":                    []string{"public"},
			"code_challenge_methods_supported":           []string{"S256"},
			"token_endpoint_auth_methods_supported":      authMethods,
			"revocation_endpoint_auth_methods_supported": authMethods,
			"id_token_signing_alg_values_supported":      []string{s.Settings.Algorithm},
			"access_token_signing_alg_values_supported":  []string{s.Settings.Algorithm},
			"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "azp",
				"at_hash", "name", "preferred_username", "email", "email_verified"},
			"prompt_values_supported": prompts,
			// Said outright: OIDC Discovery 1.0 §3 reads an omitted
			// request_uri_parameter_supported as true.
			"request_parameter_supported":                    false,
			"request_uri_parameter_supported":                false,
			"authorization_response_iss_parameter_supported": true,
			"backchannel_logout_supported":                   true,
			"backchannel_logout_session_supported":           true,
		})
	})
}

// anyClientAllows reports whether a registered client may use grant. It
// asks the registry's listing (client.Registry.AnyAllowsGrant, the one
// behind CORS), not the store: a discovery request lists no clients, and a
// change counts within client.OriginsMaxAge. Clients that cannot be
// listed allow nothing (logged once per failed listing).
func (s *server) anyClientAllows(r *http.Request, grant string) bool {
	if s.Clients == nil {
		return false
	}
	ok, err := s.Clients.AnyAllowsGrant(r.Context(), grant)
	if err != nil {
		s.log.ErrorContext(r.Context(), "discovery: clients unavailable", "request_id", requestID(r.Context()), "error", err.Error())
		return false
	}
	return ok
}

// handleUserinfo answers GET and POST (OIDC Core §5.3.1) for a bearer
// token or, without an Authorization header, a session: the same
// credential.FromRequest and precedence as a gateway route with auth: any.
// 401s carry the RFC 6750 challenge: plain for no credential or another
// scheme, error="invalid_token" for a bearer that does not verify. Two
// Authorization headers are a malformed request: 400 invalid_request with
// the error="invalid_request" challenge (RFC 6750 §3.1; the gateway and
// forward-auth keep their 401, contract §5).
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
			w.Header().Set("WWW-Authenticate", httperr.ChallengeWith(httperr.InvalidRequest))
			httperr.JSON(w, http.StatusBadRequest, httperr.InvalidRequest)
			return
		case c.Err != nil:
			err = fmt.Errorf("%w: %w", auth.ErrUnauthenticated, c.Err)
		default:
			p, err = s.Verifier.Verify(r.Context(), c.Value)
			if errors.Is(err, token.ErrAudience) && s.Apps != nil {
				// An app's OpenID token with the app's own audience (§8).
				p, err = s.Apps.UserinfoPrincipal(r.Context(), c.Value)
			}
		}
		if err != nil {
			if bearer && !httperr.Unavailable(err) {
				w.Header().Set("WWW-Authenticate", httperr.ChallengeWith(httperr.InvalidToken))
				httperr.JSON(w, http.StatusUnauthorized, httperr.InvalidToken)
				return
			}
			s.writeError(w, r, err) // 401 with the plain challenge, or 503
			return
		}
		// Contract §4's fields, plus the OpenID claims the token's scopes
		// release (§8) — the same as its ID token carries. A client's own
		// token (client_credentials: sub = client_id, username "") has no
		// user for them to describe (OIDC Core §5.3: claims about the
		// End-User), so it gets the three fields only.
		out := map[string]any{"sub": p.Subject, "username": p.Username, "roles": nonNil(p.Roles)}
		if s.Apps != nil && p.Method == auth.MethodToken && p.Username != "" {
			maps.Copy(out, s.Apps.ScopeClaims(r.Context(), auth.User{ID: p.Subject, Username: p.Username}, strings.Fields(p.Scope)))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// errMFARequired: the password grant cannot carry a second factor, so a
// user with one (or who must enrol one) is refused (contract section 9).
var errMFARequired = errors.New("second factor required")
