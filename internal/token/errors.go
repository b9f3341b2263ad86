package token

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of this package. Verification errors also wrap
// auth.ErrUnauthenticated (and auth.ErrExpired or auth.ErrRevoked when that
// is the reason); grant refusals also wrap ErrInvalidGrant, so that httpapi
// can map them without knowing every cause, except a refused scope, which
// wraps auth.ErrInvalidScope (invalid_scope) instead.
var (
	// ErrInvalidGrant: a refresh token (or the user behind it) was refused;
	// RFC 6749 section 5.2 "invalid_grant". The specific cause is wrapped
	// alongside: auth.ErrNotFound, auth.ErrReused, auth.ErrRevoked,
	// auth.ErrExpired or auth.ErrDisabled.
	ErrInvalidGrant = errors.New("invalid_grant")
	// ErrTooLarge: the token exceeds MaxTokenSize and was not parsed.
	ErrTooLarge = errors.New("token too large")
	// ErrHeader: the JOSE header is not acceptable (typ, kid, or a header
	// that carries or points at a key: jku, jwk, x5u, x5c, or crit).
	ErrHeader = errors.New("unacceptable token header")
	// ErrAudience: the token names none of the audiences the Verifier
	// accepts (tokens.audience). It is jwt's own sentinel, so errors.Is
	// finds it in Verify's errors.
	ErrAudience = jwt.ErrTokenInvalidAudience
	// ErrClaims: a claim gatehouse requires (sub, jti, iat) is missing.
	ErrClaims = errors.New("missing required claim")
	// ErrDuplicateMember: the header or payload names a member twice (at
	// any depth; payload claims compared case-insensitively, as
	// encoding/json matches them). Refused, never "last wins".
	ErrDuplicateMember = errors.New("duplicate JSON member name")
	// ErrNumericDate: exp, iat, nbf or auth_time is not a JSON number.
	ErrNumericDate = errors.New("numeric date is not a JSON number")
	// ErrMalformedJSON: the header or payload is JSON that a strict parser
	// refuses (nesting, member count, a claim spelled in another case).
	ErrMalformedJSON = errors.New("malformed token JSON")
)
