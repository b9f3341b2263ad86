package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// errNotOpenIDClient refuses, at userinfo, a token whose audience is not
// tokens.audience and which is not an OpenID token of a registered client.
var errNotOpenIDClient = fmt.Errorf("%w: %w: not an OpenID token of a registered client", auth.ErrUnauthenticated, token.ErrAudience)

// isOpenID reports whether p is an OpenID access token (scope openid).
func isOpenID(p auth.Principal) bool {
	return p.Method == auth.MethodToken && p.HasScopes([]string{client.ScopeOpenID})
}

// UserinfoPrincipal verifies raw for the userinfo endpoint once the
// gateway's verifier refused its audience (token.ErrAudience). A client's
// own `audience` names its resource servers, but userinfo is the OpenID
// Provider's (OIDC Core §5.3): an OpenID access token issued here to a
// registered client is accepted whatever its aud. Everything else about
// the token is checked as usual (signature, iss, exp, deny-lists). Any
// other token keeps the refusal (wraps auth.ErrUnauthenticated and
// token.ErrAudience) — among them the internal JWTs of forward: jwt routes,
// which name the built-in client. A client store that does not answer
// wraps auth.ErrUnavailable: fail closed.
func (s *Server) UserinfoPrincipal(ctx context.Context, raw string) (auth.Principal, error) {
	if s.Tokens == nil || s.Clients == nil {
		return auth.Principal{}, errNotOpenIDClient
	}
	p, err := s.Tokens.VerifyAnyAudience(ctx, raw)
	if err != nil {
		return auth.Principal{}, err
	}
	if !isOpenID(p) || p.ClientID == client.BuiltinID || p.ClientID == client.CLIID {
		return auth.Principal{}, errNotOpenIDClient
	}
	if _, err := s.Clients.Lookup(ctx, p.ClientID); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return auth.Principal{}, errNotOpenIDClient
		}
		return auth.Principal{}, fmt.Errorf("userinfo: look up client: %w", err)
	}
	return p, nil
}
