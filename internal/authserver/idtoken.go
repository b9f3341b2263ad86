package authserver

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
)

// IDTokenType is the JOSE typ of ID tokens; the access-token verifier
// requires at+jwt, so an ID token is never accepted as an access token.
const IDTokenType = "JWT"

// IDTokenInput is what an ID token is made of.
type IDTokenInput struct {
	User        auth.User
	Client      client.Client
	Scopes      []string
	Nonce       string
	AuthTime    time.Time
	AMR         []string
	SessionID   string // browser session: the sid that back-channel logout names
	AccessToken string // for at_hash
}

// IDToken signs an OpenID Connect ID token (OIDC Core §2) with the access
// tokens' keys: iss, sub, aud = client_id, exp, iat, auth_time, nonce,
// amr, sid, azp, at_hash, and the claims of the granted scopes.
func (s *Server) IDToken(ctx context.Context, in IDTokenInput) (string, error) {
	now := s.Issuer.Now().Truncate(time.Second)
	amr := in.AMR
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	c := jwt.MapClaims{
		"iss": s.Issuer.Issuer(), "sub": in.User.ID, "aud": in.Client.ID, "azp": in.Client.ID,
		"iat": now.Unix(), "exp": now.Add(s.Issuer.TTL()).Unix(), "auth_time": in.AuthTime.Unix(), "amr": amr,
	}
	if in.Nonce != "" {
		c["nonce"] = in.Nonce
	}
	if in.SessionID != "" {
		c["sid"] = in.SessionID
	}
	if in.AccessToken != "" {
		if h := atHash(s.Issuer.Algorithm(), in.AccessToken); h != "" {
			c["at_hash"] = h
		}
	}
	for k, v := range s.ScopeClaims(ctx, in.User, in.Scopes) {
		if k != "sub" {
			c[k] = v
		}
	}
	raw, err := s.Issuer.Sign(c, IDTokenType)
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return raw, nil
}

// ScopeClaims are the user claims the scopes release, for the ID token and
// userinfo alike: sub always; email and email_verified with email (when an
// email is known); name and preferred_username with profile.
func (s *Server) ScopeClaims(ctx context.Context, u auth.User, scopes []string) map[string]any {
	out := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, client.ScopeProfile) {
		out["name"], out["preferred_username"] = u.Username, u.Username
	}
	if slices.Contains(scopes, client.ScopeEmail) && s.Email != nil {
		if email, verified := s.Email(ctx, u.ID); email != "" {
			out["email"], out["email_verified"] = email, verified
		}
	}
	return out
}

// atHash is OIDC Core §3.1.3.6: the left half of the hash of the access
// token, with the hash of the signing algorithm.
func atHash(alg, accessToken string) string {
	var h hash.Hash
	switch alg {
	case "HS256", "RS256", "ES256", "PS256":
		h = sha256.New()
	case "EdDSA":
		h = sha512.New()
	default:
		return ""
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
