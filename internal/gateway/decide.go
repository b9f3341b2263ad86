package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
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
)

// Denial reasons, logged as reason=… (Oathkeeper style).
const (
	reasonNoCredentials  = "no_credentials"
	reasonInvalidToken   = "invalid_token"
	reasonInvalidSession = "invalid_session"
	reasonExpired        = "expired"
	reasonRevoked        = "revoked"
	reasonWrongRole      = "wrong_role"
	reasonCrossOrigin    = "cross_origin"
	reasonUnavailable    = "unavailable"
	reasonBadPath        = "bad_path"
	reasonNoRoute        = "no_route"
	reasonBadVerify      = "bad_verify_request"
	reasonUntrustedPeer  = "untrusted_peer"
)

// decision is the result of applying a route's policy to a request.
type decision struct {
	outcome   string
	reason    string // set when outcome is not allow
	kind      string // credential kind evaluated: none | session | token
	tokenSent bool   // an Authorization header was present (RFC 6750 error="invalid_token")
	principal auth.Principal
	err       error // the dependency's error, for logging
}

// decide authenticates r as rt.Policy requires and checks its roles.
// Authentication errors map to outcomes here, once: auth.ErrUnavailable
// fails closed (503) and anything unrecognised is a 401, never an allow.
func (g *Gateway) decide(r *http.Request, rt *Route) decision {
	var d decision
	switch rt.Policy.Auth {
	case AuthNone:
		return decision{outcome: outcomeAllow, kind: kindNone}
	case AuthToken:
		d = g.byToken(r)
	case AuthSession:
		d = g.bySession(r)
	case AuthAny:
		if _, sent := r.Header["Authorization"]; sent {
			d = g.byToken(r)
		} else {
			d = g.bySession(r)
		}
	default: // compileRoute refuses other values; fail closed anyway
		return decision{outcome: outcomeForbidden, reason: reasonWrongRole, kind: kindNone}
	}
	if d.outcome != outcomeAllow {
		return d
	}
	if !d.principal.HasAnyRole(rt.Policy.Roles) {
		d.outcome, d.reason = outcomeForbidden, reasonWrongRole
	}
	return d
}

func (g *Gateway) byToken(r *http.Request) decision {
	d := decision{kind: kindToken}
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		d.outcome, d.reason = outcomeUnauthorized, reasonNoCredentials
		return d
	}
	d.tokenSent = true
	raw, ok := bearerToken(values)
	if !ok {
		d.outcome, d.reason = outcomeUnauthorized, reasonInvalidToken
		return d
	}
	p, err := g.deps.Tokens.Verify(r.Context(), raw)
	if err != nil {
		return failed(d, err, reasonInvalidToken)
	}
	p.Method = auth.MethodToken
	d.outcome, d.principal = outcomeAllow, p
	return d
}

// bySession authenticates the session cookie. A cookie rides along with
// every browser request, so state-changing requests it authenticates must be
// same-origin (http.CrossOriginProtection); WebSocket handshakes count as
// state-changing because a GET upgrade is how cross-site WebSocket
// hijacking reads a victim's data.
func (g *Gateway) bySession(r *http.Request) decision {
	d := decision{kind: kindSession}
	if err := g.origin.Check(originCheckRequest(r)); err != nil {
		d.outcome, d.reason, d.err = outcomeForbidden, reasonCrossOrigin, err
		return d
	}
	if _, err := r.Cookie(g.deps.CookieName); err != nil {
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

// originCheckRequest returns r, or for an Upgrade handshake a copy that
// CrossOriginProtection treats as unsafe.
func originCheckRequest(r *http.Request) *http.Request {
	if r.Header.Get("Upgrade") == "" {
		return r
	}
	c := r.WithContext(r.Context())
	c.Method = http.MethodPost
	return c
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

// bearerToken extracts the token of a single "Bearer <token>" header
// (RFC 6750 section 2.1; the scheme is case-insensitive).
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	tok = strings.TrimLeft(tok, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
