package gateway

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/credential"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// Credential kinds, as reported to Observe.
const (
	kindNone    = "none"
	kindSession = auth.MethodSession
	kindToken   = auth.MethodToken
)

// Outcomes, as reported to Observe.
const (
	outcomeAllow        = "allow"
	outcomeUnauthorized = "unauthorized"
	outcomeForbidden    = "forbidden"
	outcomeUnavailable  = "unavailable"
	outcomeRateLimited  = "rate_limited"
	// outcomeStepUp: authenticated, but the route needs a second factor
	// the credential lacks (RFC 9470).
	outcomeStepUp = "step_up"
)

// Denial reasons, logged as reason=… (Oathkeeper style).
const (
	reasonNoCredentials  = "no_credentials"
	reasonInvalidToken   = "invalid_token"
	reasonNotBearer      = "not_bearer"
	reasonDuplicate      = "duplicate_credential"
	reasonInvalidSession = "invalid_session"
	reasonExpired        = "expired"
	reasonRevoked        = "revoked"
	reasonWrongRole      = "wrong_role"
	// reasonInsufficientScope: a token without every scope of the route's
	// scopes (RFC 6750 §3.1 insufficient_scope).
	reasonInsufficientScope = "insufficient_scope"
	reasonNoSecondFactor    = "no_second_factor"
	reasonCrossOrigin       = "cross_origin"
	reasonUnavailable       = "unavailable"
	reasonBadPath           = "bad_path"
	reasonBadBody           = "bad_body"
	reasonNoRoute           = "no_route"
	reasonBadVerify         = "bad_verify_request"
	reasonUntrustedPeer     = "untrusted_peer"
	reasonRateLimited       = "rate_limited"
)

// decision is the result of applying a route's policy to a request.
type decision struct {
	outcome   string
	reason    string // set when outcome is not allow
	kind      string // credential kind evaluated: none | session | token
	challenge string // RFC 6750 error= of a 401: "", invalid_token or invalid_request
	principal auth.Principal
	err       error    // the dependency's error, for logging
	limit     *limited // the route's rate limit bucket, when it has one
	// preflight: allowed without authentication as a CORS preflight of a
	// skip_auth_preflight route (kind none, no principal).
	preflight bool
}

// accepts is the credential each route auth kind reads.
var accepts = map[Auth]credential.Accept{
	AuthToken:   credential.Bearer,
	AuthSession: credential.Cookie,
	AuthAny:     credential.Any,
}

// decide authenticates r as rt.Policy requires and checks its roles, a
// token's scopes and the second factor, in that order. The credential
// comes from credential.FromRequest, the one reader of Authorization and
// the session cookie. Authentication errors map to
// outcomes here, once: auth.ErrUnavailable fails closed (503) and anything
// unrecognised is a 401, never an allow.
//
// A CORS preflight on a skip_auth_preflight route is allowed first, as on
// an auth: none route: no credential is read, roles and mfa do not apply
// (the browser sends none with it), and no identity goes upstream. Every
// other request pays one method comparison for it.
func (g *Gateway) decide(r *http.Request, rt *Route) decision {
	if r.Method == http.MethodOptions && rt.Policy.SkipAuthPreflight && IsPreflight(r.Header) {
		return decision{outcome: outcomeAllow, kind: kindNone, preflight: true}
	}
	if rt.Policy.Auth == AuthNone {
		return decision{outcome: outcomeAllow, kind: kindNone}
	}
	accept, ok := accepts[rt.Policy.Auth]
	if !ok { // compileRoute refuses other values; fail closed anyway
		return decision{outcome: outcomeForbidden, reason: reasonWrongRole, kind: kindNone}
	}
	var d decision
	switch c := credential.FromRequest(r, g.deps.CookieName, accept); {
	case c.Kind == credential.Token:
		d = g.byToken(r, c)
	case accept&credential.Cookie != 0:
		d = g.bySession(r, c)
	default:
		d = decision{kind: kindToken, outcome: outcomeUnauthorized, reason: reasonNoCredentials}
	}
	if d.outcome != outcomeAllow {
		return d
	}
	switch {
	case !d.principal.HasAnyRole(rt.Policy.Roles):
		d.outcome, d.reason = outcomeForbidden, reasonWrongRole
	case d.kind == kindToken && !d.principal.HasScopes(rt.Policy.Scopes):
		// Only a token carries scopes: a session on an auth: any route is
		// the user's own first-party login and is not asked for them.
		// Before mfa: a second factor would not grant the scope.
		d.outcome, d.reason = outcomeForbidden, reasonInsufficientScope
	case rt.Policy.MFA && !d.principal.HasSecondFactor():
		d.outcome, d.reason = outcomeStepUp, reasonNoSecondFactor
	}
	return d
}

// byToken verifies the bearer token of c. An unusable Authorization header
// is a 401 whose challenge says why (RFC 6750 §3.1): two headers are an
// invalid_request, a malformed bearer an invalid_token, and another scheme
// (Basic, …) gets the plain challenge, since no token was sent.
func (g *Gateway) byToken(r *http.Request, c credential.Credential) decision {
	d := decision{kind: kindToken, outcome: outcomeUnauthorized}
	switch {
	case errors.Is(c.Err, credential.ErrDuplicate):
		d.reason, d.challenge = reasonDuplicate, "invalid_request"
		return d
	case errors.Is(c.Err, credential.ErrScheme):
		d.reason = reasonNotBearer
		return d
	case c.Err != nil:
		d.reason, d.challenge = reasonInvalidToken, "invalid_token"
		return d
	}
	p, err := g.deps.Tokens.Verify(r.Context(), c.Value)
	if err != nil {
		d = failed(d, err, reasonInvalidToken)
		if d.outcome == outcomeUnauthorized {
			d.challenge = "invalid_token"
		}
		return d
	}
	p.Method = auth.MethodToken
	d.outcome, d.principal = outcomeAllow, p
	return d
}

// bySession authenticates the session cookie. A cookie rides along with
// every browser request, so state-changing requests it authenticates must be
// same-origin (http.CrossOriginProtection); WebSocket handshakes count as
// state-changing because a GET upgrade is how cross-site WebSocket
// hijacking reads a victim's data. Two session cookies count as none.
func (g *Gateway) bySession(r *http.Request, c credential.Credential) decision {
	d := decision{kind: kindSession}
	if err := g.origin.Check(originCheckRequest(r)); err != nil {
		d.outcome, d.reason, d.err = outcomeForbidden, reasonCrossOrigin, err
		return d
	}
	switch {
	case c.Err != nil:
		d.outcome, d.reason = outcomeUnauthorized, reasonDuplicate
		return d
	case c.Kind != credential.Session:
		d.outcome, d.reason = outcomeUnauthorized, reasonNoCredentials
		return d
	}
	p, err := g.deps.Sessions.AuthenticateSession(r)
	if err != nil {
		return failed(d, err, reasonInvalidSession)
	}
	p.Method = auth.MethodSession
	d.outcome, d.principal = outcomeAllow, p
	return d
}

// originCheckRequest returns r, or for a handshake a copy that
// CrossOriginProtection treats as unsafe.
func originCheckRequest(r *http.Request) *http.Request {
	if !handshake(r.Header) {
		return r
	}
	c := r.WithContext(r.Context())
	c.Method = http.MethodPost
	return c
}

// handshake reports whether h are the headers of an Upgrade handshake. A
// forward-auth subrequest describes one without its Upgrade header: nginx's
// auth_request and Traefik's ForwardAuth drop it as hop-by-hop. A browser's
// WebSocket handshake always carries Sec-WebSocket-Key (RFC 6455 §4.1),
// which those proxies pass on, and Sec-Fetch-Mode: websocket when the
// browser sends fetch metadata.
func handshake(h http.Header) bool {
	return first(h, "Upgrade") != "" || len(h["Sec-Websocket-Key"]) > 0 ||
		first(h, "Sec-Fetch-Mode") == "websocket"
}

// failed maps an authentication error to a denial.
func failed(d decision, err error, invalid string) decision {
	d.err = err
	switch {
	case httperr.Unavailable(err):
		d.outcome, d.reason = outcomeUnavailable, reasonUnavailable
	case errors.Is(err, auth.ErrRevoked):
		d.outcome, d.reason = outcomeUnauthorized, reasonRevoked
	case errors.Is(err, auth.ErrExpired):
		d.outcome, d.reason = outcomeUnauthorized, reasonExpired
	default:
		d.outcome, d.reason = outcomeUnauthorized, invalid
	}
	return d
}
