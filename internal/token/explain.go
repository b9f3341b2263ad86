package token

import (
	"context"
	"errors"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/golang-jwt/jwt/v5"
)

// Report is what `gatehouse token verify` prints: the decoded (unverified)
// header and claims, and the first check that failed.
type Report struct {
	Header map[string]any // nil when the token could not be decoded
	Claims map[string]any
	Valid  bool
	// Check names the failed check: size, format, alg, header, kid,
	// signature, exp, nbf, iat, iss, aud, claims, revoked, deny-list.
	// Empty when Valid.
	Check string
	Err   error
}

// Explain runs every check but the deny-list lookup and reports the result.
func (v *Verifier) Explain(raw string) Report {
	r := decode(raw)
	_, _, err := v.parse(context.Background(), raw)
	return v.report(r, err)
}

// ExplainContext is Explain plus the jti/sid deny-list lookup.
func (v *Verifier) ExplainContext(ctx context.Context, raw string) Report {
	r := decode(raw)
	_, _, err := v.verify(ctx, raw)
	return v.report(r, err)
}

func decode(raw string) Report {
	var r Report
	if len(raw) > MaxTokenSize {
		return r
	}
	mc := jwt.MapClaims{}
	if t, _, err := jwt.NewParser().ParseUnverified(raw, mc); err == nil {
		r.Header, r.Claims = t.Header, mc
	}
	return r
}

func (v *Verifier) report(r Report, err error) Report {
	r.Err, r.Valid = err, err == nil
	if err == nil {
		return r
	}
	r.Check = "format"
	if alg, ok := r.Header["alg"].(string); ok && alg != v.keys.Algorithm() {
		r.Check = "alg"
		return r
	}
	for _, c := range checks {
		if errors.Is(err, c.err) {
			r.Check = c.name
			break
		}
	}
	return r
}

// checks maps causes to check names, most specific first.
var checks = []struct {
	err  error
	name string
}{
	{ErrTooLarge, "size"},
	{ErrHeader, "header"},
	{keys.ErrUnknownKey, "kid"},
	{keys.ErrRetiredKey, "kid"},
	{jwt.ErrTokenMalformed, "format"},
	{jwt.ErrTokenSignatureInvalid, "signature"},
	{jwt.ErrTokenExpired, "exp"},
	{jwt.ErrTokenNotValidYet, "nbf"},
	{jwt.ErrTokenUsedBeforeIssued, "iat"},
	{jwt.ErrTokenInvalidIssuer, "iss"},
	{jwt.ErrTokenInvalidAudience, "aud"},
	{jwt.ErrTokenRequiredClaimMissing, "claims"},
	{ErrClaims, "claims"},
	{auth.ErrRevoked, "revoked"},
	{auth.ErrUnavailable, "deny-list"},
}
