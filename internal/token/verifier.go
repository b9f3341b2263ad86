package token

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenSize is the longest token Verify parses (8 KiB); longer ones are
// refused before any decoding, so junk cannot cost base64 and JSON work.
const MaxTokenSize = 8 << 10

// Revocation kinds the Verifier asks about and Forget understands; they are
// the kinds of internal/revocation.
const (
	kindJTI  = "jti"
	kindSID  = "sid"
	kindUser = "user"
	kindKeys = "keys"
)

// forbiddenHeaders carry or point at a verification key. Following any of
// them lets the token choose its own key (RFC 8725 section 3.10), so a token
// that carries one is refused outright rather than merely ignored.
var forbiddenHeaders = []string{"jku", "jwk", "x5u", "x5c", "crit"}

// RevocationChecker answers deny-list lookups; revocation.Watcher
// implements it. An error means "don't know" and Verify fails closed.
type RevocationChecker interface {
	Revoked(ctx context.Context, kind, key string) (bool, error)
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	keys    *keys.Set
	revoked RevocationChecker
	parser  *jwt.Parser
	anyAud  *jwt.Parser // parser without the audience check (VerifyAnyAudience)
	lax     *jwt.Parser // signature and header only, for revocation requests
	now     func() time.Time
	cache   *tokenCache
	trust   func() bool
}

// NewVerifier returns a Verifier of tokens signed with ks, denying those
// revoked says are revoked (nil: no deny-list, for offline use only). It
// uses WithIssuer, WithAudience, WithLeeway, WithClock, WithCacheSize and
// WithCacheTrust. An empty issuer is not checked; exp is always required.
func NewVerifier(ks *keys.Set, revoked RevocationChecker, opts ...VerifierOption) *Verifier {
	s := newSettings(opts)
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{ks.Algorithm()}),
		jwt.WithLeeway(s.leeway),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if s.iss != "" {
		popts = append(popts, jwt.WithIssuer(s.iss))
	}
	v := &Verifier{
		keys: ks, revoked: revoked, now: s.now, trust: s.trust,
		parser: jwt.NewParser(append(slices.Clip(popts), jwt.WithAudience(s.aud...))...),
		anyAud: jwt.NewParser(popts...),
		lax:    jwt.NewParser(jwt.WithValidMethods([]string{ks.Algorithm()}), jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation()),
	}
	if s.cacheSize > 0 {
		v.cache = newCache(s.cacheSize, s.now)
	}
	return v
}

// Verify checks raw and returns its principal. Every error except a
// revocation-store failure wraps auth.ErrUnauthenticated, plus
// auth.ErrExpired for an expired token or auth.ErrRevoked for a denied jti
// or sid; a RevocationChecker failure wraps auth.ErrUnavailable (fail
// closed, 503). Errors never contain the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (auth.Principal, error) {
	if len(raw) > MaxTokenSize {
		return auth.Principal{}, unauthenticated(ErrTooLarge)
	}
	var key [32]byte
	var signed string
	cached := v.cache != nil && (v.trust == nil || v.trust())
	if cached {
		// A token without a signature is not looked up: verify refuses it.
		key, signed, cached = cacheKey(raw)
	}
	if !cached {
		p, _, err := v.verify(ctx, raw)
		return p, err
	}
	if e, ok := v.cache.Get(key); ok && e.signed == signed {
		if _, err := v.keys.VerificationKey(e.kid); err == nil {
			if err := v.checkRevoked(ctx, e.p); err != nil {
				return auth.Principal{}, err
			}
			// The cached slices are shared with every hit, as the session
			// cache shares its own: callers read them; capping the capacity
			// makes an append by anyone copy instead of writing into them.
			p := e.p
			p.Roles = p.Roles[:len(p.Roles):len(p.Roles)]
			p.AMR = p.AMR[:len(p.AMR):len(p.AMR)]
			return p, nil
		}
		v.cache.Delete(key)
	}
	// Read before verify's deny-list check: a revocation from here on
	// stops putVerified (cache.Put).
	gen := v.cache.Generation()
	// A token that carries a cached signature over other bytes (a forgery)
	// is a miss: verify refuses it, and the genuine entry stays.
	p, kid, err := v.verify(ctx, raw)
	if err != nil {
		return auth.Principal{}, err
	}
	putVerified(v.cache, gen, key, signed, p, kid)
	return p, nil
}

// VerifyAnyAudience is Verify without the audience check (and without the
// cache): signature, header, iss, exp, nbf, iat, sub, jti and the
// deny-lists all apply, and its errors are Verify's. It is for a caller
// that decides on the token's client itself — the OpenID Provider's
// userinfo endpoint, which serves the OpenID tokens of registered clients
// whatever audience they carry (authserver.Server.UserinfoPrincipal) —
// never for a gateway route, whose tokens must name tokens.audience.
func (v *Verifier) VerifyAnyAudience(ctx context.Context, raw string) (auth.Principal, error) {
	p, _, err := v.verifyWith(ctx, v.anyAud, raw)
	return p, err
}

// verify is Verify without the cache.
func (v *Verifier) verify(ctx context.Context, raw string) (auth.Principal, string, error) {
	return v.verifyWith(ctx, v.parser, raw)
}

// verifyWith is verify with the claims checks of parser.
func (v *Verifier) verifyWith(ctx context.Context, parser *jwt.Parser, raw string) (auth.Principal, string, error) {
	c, kid, err := v.parseWith(ctx, parser, raw)
	if err != nil {
		return auth.Principal{}, "", err
	}
	p := principal(c)
	if err := v.checkRevoked(ctx, p); err != nil {
		return auth.Principal{}, "", err
	}
	return p, kid, nil
}

// parse checks everything but revocation.
func (v *Verifier) parse(ctx context.Context, raw string) (Claims, string, error) {
	return v.parseWith(ctx, v.parser, raw)
}

// parseWith is parse with the claims checks of parser.
func (v *Verifier) parseWith(ctx context.Context, parser *jwt.Parser, raw string) (Claims, string, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, "", unauthenticated(ErrTooLarge)
	}
	var c Claims
	t, err := parser.ParseWithClaims(raw, &c, v.keyFunc)
	if err != nil && v.learnKey(ctx, t, err) {
		c = Claims{}
		t, err = parser.ParseWithClaims(raw, &c, v.keyFunc)
	}
	if err != nil {
		return Claims{}, "", unauthenticated(err)
	}
	if c.Subject == "" || c.ID == "" {
		return Claims{}, "", unauthenticated(fmt.Errorf("%w: sub and jti", ErrClaims))
	}
	// RFC 9068 section 2.2 makes iat REQUIRED; jwt.WithIssuedAt only
	// checks it when present.
	if c.IssuedAt == nil {
		return Claims{}, "", unauthenticated(fmt.Errorf("%w: iat", ErrClaims))
	}
	if err := checkStrict(raw); err != nil {
		return Claims{}, "", unauthenticated(err)
	}
	kid, _ := t.Header["kid"].(string)
	return c, kid, nil
}

// keyFunc picks the verification key by kid from memory only, after
// refusing headers that would let the token pick its own key (an unknown
// kid is learned by parse, outside the jwt parser).
func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	for _, h := range forbiddenHeaders {
		if _, ok := t.Header[h]; ok {
			return nil, fmt.Errorf("%w: %s header present", ErrHeader, h)
		}
	}
	typ, _ := t.Header["typ"].(string)
	if !isAccessTokenType(typ) {
		return nil, fmt.Errorf("%w: typ is not %s", ErrHeader, TypeAccessToken)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("%w: kid missing", ErrHeader)
	}
	return v.keys.VerificationKey(kid)
}

// learnKey reports whether a parse of t that failed with err is worth one
// more try: its kid was unknown here and keys.Set.LearnKey, reloading the
// store (shared, at most once a second), found it — a key another instance
// rotated to before the "keys" revocation event reached this one. Only
// failures come here: a known kid costs nothing more than before.
func (v *Verifier) learnKey(ctx context.Context, t *jwt.Token, err error) bool {
	if t == nil || !errors.Is(err, keys.ErrUnknownKey) {
		return false
	}
	kid, _ := t.Header["kid"].(string)
	return v.keys.LearnKey(ctx, kid)
}

// isAccessTokenType accepts "at+jwt" and its full media type, compared
// case-insensitively (RFC 8725 section 3.11, RFC 9068 section 4).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, TypeAccessToken) || strings.EqualFold(typ, "application/"+TypeAccessToken)
}

func (v *Verifier) checkRevoked(ctx context.Context, p auth.Principal) error {
	if v.revoked == nil {
		return nil
	}
	if err := v.deny(ctx, kindJTI, p.TokenID); err != nil {
		return err
	}
	if p.SessionID == "" {
		return nil
	}
	return v.deny(ctx, kindSID, p.SessionID)
}

func (v *Verifier) deny(ctx context.Context, kind, key string) error {
	revoked, err := v.revoked.Revoked(ctx, kind, key)
	if err != nil {
		return fmt.Errorf("verify token: %s deny-list: %w: %w", kind, auth.ErrUnavailable, err)
	}
	if revoked {
		return fmt.Errorf("verify token: %w: %s %w", auth.ErrUnauthenticated, kind, auth.ErrRevoked)
	}
	return nil
}

// Forget drops cached verifications: kind "jti", "sid" or "user" (key = the
// token's jti, sid or sub), or "keys" (everything). Wire it to the
// revocation watcher's OnEvent so that revocations and key changes reach
// the cache at once.
func (v *Verifier) Forget(kind, key string) {
	if v.cache != nil {
		forget(v.cache, kind, key)
	}
}

// unauthenticated wraps a verification failure so that httpapi can map it
// with errors.Is and the cause stays inspectable.
func unauthenticated(err error) error {
	if errors.Is(err, jwt.ErrTokenExpired) {
		return fmt.Errorf("verify token: %w (%w): %w", auth.ErrUnauthenticated, auth.ErrExpired, err)
	}
	return fmt.Errorf("verify token: %w: %w", auth.ErrUnauthenticated, err)
}

func principal(c Claims) auth.Principal {
	p := auth.Principal{
		Subject: c.Subject, Username: c.Username, Roles: c.Roles, Method: auth.MethodToken,
		SessionID: c.SessionID, TokenID: c.ID, Scope: c.Scope, AMR: c.AMR, ClientID: c.ClientID,
	}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	return p
}

// parseSigned checks header and signature but no time or audience claims:
// RFC 7009 revocation of a token that is about to expire must still work.
// An unknown kid is learned as in parse: a token of a key rotated to on
// another instance is revoked, not taken for a stranger.
func (v *Verifier) parseSigned(ctx context.Context, raw string) (Claims, error) {
	if len(raw) > MaxTokenSize {
		return Claims{}, ErrTooLarge
	}
	var c Claims
	t, err := v.lax.ParseWithClaims(raw, &c, v.keyFunc)
	if err != nil && v.learnKey(ctx, t, err) {
		c = Claims{}
		_, err = v.lax.ParseWithClaims(raw, &c, v.keyFunc)
	}
	if err != nil {
		return Claims{}, err
	}
	if err := checkStrict(raw); err != nil {
		return Claims{}, err
	}
	return c, nil
}
