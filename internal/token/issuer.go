package token

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/golang-jwt/jwt/v5"
)

// TypeAccessToken is the JOSE typ of every access token (RFC 9068 section
// 2.1): it keeps an ID token or any other JWT signed by the same key from
// being accepted as an access token.
const TypeAccessToken = "at+jwt"

// InternalTTL is the default life of a gateway-forwarded internal JWT.
const InternalTTL = 60 * time.Second

// Claims are the claims of a gatehouse access token (RFC 9068 section 2.2).
type Claims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Username string   `json:"username,omitempty"`
	Roles    []string `json:"roles"`
	// Scope is always present (RFC 9068 §2.2.3: the granted scopes, "" for
	// none), so that a client can tell "no scopes" from "not stated".
	Scope     string `json:"scope"`
	SessionID string `json:"sid,omitempty"` // refresh family ID
	// AMR lists the RFC 8176 authentication methods of the login behind
	// the token ("mfa" = second factor); a route with mfa: true needs it.
	AMR []string `json:"amr,omitempty"`
}

// Subject is whom an access token is issued to.
type Subject struct {
	UserID    string
	Username  string
	Roles     []string
	Scope     string
	ClientID  string
	SessionID string // sid: the refresh family, so that revoking it denies the token
	AMR       []string
	// Audience replaces the issuer's audience (a client's audience);
	// empty means tokens.audience.
	Audience []string
}

// Issuer signs access tokens with the active key of a keys.Set.
type Issuer struct {
	keys   *keys.Set
	iss    string
	aud    []string
	ttl    time.Duration
	now    func() time.Time
	random io.Reader
	// internal returns the audiences of internal JWTs (nil: none).
	internal func() []string
}

// NewIssuer returns an Issuer signing with ks. It uses WithIssuer,
// WithAudience, WithTTL, WithClock, WithRandom and WithInternalAudiences.
func NewIssuer(ks *keys.Set, opts ...IssuerOption) *Issuer {
	s := newSettings(opts)
	return &Issuer{keys: ks, iss: s.iss, aud: s.aud, ttl: s.ttl, now: s.now, random: s.random, internal: s.internal}
}

// Issuer returns the iss claim of every token (public_url).
func (i *Issuer) Issuer() string { return i.iss }

// Now is the issuer's clock.
func (i *Issuer) Now() time.Time { return i.now() }

// Algorithm is the JOSE alg of the active signing key.
func (i *Issuer) Algorithm() string {
	_, alg, _ := i.keys.Signing()
	return alg
}

// TTL returns the default access token life.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue signs an access token for s, valid for ttl (0 = the default). An
// audience that is the aud of internal JWTs (WithInternalAudiences) is
// refused (wraps auth.ErrInvalidInput): the token would pass, at that
// route's upstream, for one the gateway sent.
func (i *Issuer) Issue(s Subject, ttl time.Duration) (string, Claims, error) {
	return i.issue(s, ttl, time.Time{})
}

// issue is Issue with the token issued as of at (zero, or later than the
// clock: now). A grant passes the time it read before its store write, so
// that a revocation of the family timed after that write outlasts the
// token however long the signing waited (Grants.sidEvent).
func (i *Issuer) issue(s Subject, ttl time.Duration, at time.Time) (string, Claims, error) {
	aud := i.aud
	if len(s.Audience) > 0 {
		aud = s.Audience
	}
	if err := i.CheckAudience(aud...); err != nil {
		return "", Claims{}, fmt.Errorf("issue token: %w", err)
	}
	c, err := i.claims(s, aud, ttl, at)
	if err != nil {
		return "", Claims{}, err
	}
	raw, err := i.sign(c)
	return raw, c, err
}

// CheckAudience refuses (wraps auth.ErrInvalidInput) an audience that is
// the aud of internal JWTs (WithInternalAudiences): the name of a forward:
// jwt route. Every token gatehouse signs has its issuer and keys, so one
// with such an aud — an app's access token, or the ID and logout tokens
// of a client whose client_id is the route's name — would pass, at that
// route's upstream, for a JWT the gateway sent. Only IssueInternal signs
// one.
func (i *Issuer) CheckAudience(aud ...string) error {
	if i.internal == nil {
		return nil
	}
	internal := i.internal()
	for _, a := range aud {
		if slices.Contains(internal, a) {
			return fmt.Errorf("audience %q is a forward: jwt route's name: %w", a, auth.ErrInvalidInput)
		}
	}
	return nil
}

// IssueInternal signs the short-lived JWT that a `forward: jwt` route sends
// upstream: aud is the route name, life ttl (0 = InternalTTL), same keys and
// JWKS. An audience that gatehouse itself accepts is refused (wraps
// auth.ErrInvalidInput): an upstream could otherwise replay the token to
// gatehouse as an access token.
func (i *Issuer) IssueInternal(p auth.Principal, audience string, ttl time.Duration) (string, error) {
	if audience == "" || slices.Contains(i.aud, audience) {
		return "", fmt.Errorf("issue internal token: route name %q must differ from tokens.audience: %w", audience, auth.ErrInvalidInput)
	}
	if ttl == 0 {
		ttl = InternalTTL
	}
	s := Subject{UserID: p.Subject, Username: p.Username, Roles: p.Roles, Scope: p.Scope, SessionID: p.SessionID, ClientID: "gatehouse", AMR: p.AMR}
	c, err := i.claims(s, []string{audience}, ttl, time.Time{})
	if err != nil {
		return "", err
	}
	return i.signAs(c, TypeAccessToken)
}

func (i *Issuer) claims(s Subject, aud []string, ttl time.Duration, at time.Time) (Claims, error) {
	if ttl == 0 {
		ttl = i.ttl
	}
	if ttl < 0 || s.UserID == "" {
		return Claims{}, fmt.Errorf("issue token: need a subject and a positive ttl: %w", auth.ErrInvalidInput)
	}
	jti, err := randomID(i.random, 16)
	if err != nil {
		return Claims{}, fmt.Errorf("issue token: %w", err)
	}
	now := i.now()
	if !at.IsZero() && at.Before(now) {
		now = at
	}
	now = now.Truncate(time.Second)
	roles := s.Roles
	if roles == nil {
		roles = []string{}
	}
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: i.iss, Subject: s.UserID, Audience: slices.Clone(aud), ID: jti,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		ClientID: s.ClientID, Username: s.Username, Roles: slices.Clone(roles), Scope: s.Scope, SessionID: s.SessionID,
		AMR: slices.Clone(s.AMR),
	}, nil
}

func (i *Issuer) sign(c Claims) (string, error) { return i.signAs(c, TypeAccessToken) }

// Sign signs any claims with the active key and JOSE typ typ: ID tokens
// ("JWT") and logout tokens ("logout+jwt") share the keys and JWKS of the
// access tokens, and their typ keeps them from passing as access tokens
// here. An aud that names a forward: jwt route is refused (CheckAudience):
// the route's upstream is told to check iss, aud and the signature, not
// typ, so such a token would pass there for an internal JWT.
func (i *Issuer) Sign(c jwt.Claims, typ string) (string, error) {
	aud, err := c.GetAudience()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	if err := i.CheckAudience(aud...); err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return i.signAs(c, typ)
}

// signAs is Sign without the audience check.
func (i *Issuer) signAs(c jwt.Claims, typ string) (string, error) {
	kid, alg, key := i.keys.Signing()
	m := jwt.GetSigningMethod(alg)
	if key == nil || m == nil {
		return "", fmt.Errorf("sign token: no active %s key", alg)
	}
	t := jwt.NewWithClaims(m, c)
	t.Header["typ"] = typ
	t.Header["kid"] = kid
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return raw, nil
}

// randomID returns n random bytes as unpadded base64url.
func randomID(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// VerifyOwn checks a JWT this issuer signed with JOSE typ typ (an ID
// token given back as id_token_hint): the configured algorithm, a known
// kid, the typ and iss. Its expiry is not checked — an expired ID token is
// still a good hint of who is logging out (OIDC RP-Initiated Logout §2).
func (i *Issuer) VerifyOwn(raw, typ string) (map[string]any, error) {
	if len(raw) > MaxTokenSize {
		return nil, ErrTooLarge
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{i.keys.Algorithm()}), jwt.WithoutClaimsValidation(), jwt.WithIssuer(i.iss))
	c := jwt.MapClaims{}
	_, err := p.ParseWithClaims(raw, c, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != typ {
			return nil, ErrHeader
		}
		kid, _ := t.Header["kid"].(string)
		return i.keys.VerificationKey(kid)
	})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w: %w", typ, auth.ErrUnauthenticated, err)
	}
	if iss, _ := c["iss"].(string); iss != i.iss {
		return nil, fmt.Errorf("verify %s: wrong issuer: %w", typ, auth.ErrUnauthenticated)
	}
	return c, nil
}
