package token_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// TestRevokedFamilyStaysDeniedAcrossClockSkew: instances' clocks may differ
// by up to tokens.leeway (what the leeway is for). An access token issued
// by an instance whose clock is ahead carries an exp that much later, and
// every instance accepts it until that exp plus the leeway; a family
// revoked on another instance must stay denied until then, not come back
// to life for the skew after its sid denial ends.
func TestRevokedFamilyStaysDeniedAcrossClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{time.Second, 5 * time.Second, leeway} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newEnv(t, keys.ES256) // instance B: revokes and verifies
			ahead := func() time.Time { return e.clock.Now().Add(skew) }
			// Instance A: same stores and deny-list, its clock skew ahead.
			opts := []token.Option{token.WithIssuer(testIssuer), token.WithAudience([]string{"gatehouse"}),
				token.WithTTL(accessTTL), token.WithLeeway(leeway), token.WithClock(ahead)}
			a := token.NewGrants(token.NewIssuer(e.keys, opts...), e.refresh, e.users.store, e.deny, opts...)

			p, err := a.Start(t.Context(), e.users.get(t, "u-alice"), "spa", "openid")
			if err != nil {
				t.Fatal(err)
			}
			if err := e.grants.Revoke(t.Context(), p.RefreshToken, "refresh_token"); err != nil {
				t.Fatal(err)
			}
			// The last moment B accepts the token's time claims: exp+leeway-1s.
			last := p.Claims.ExpiresAt.Add(leeway - time.Second)
			e.clock.Advance(last.Sub(e.clock.Now()))
			if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrRevoked) {
				t.Fatalf("token of a revoked family, issued %v ahead, at exp+leeway-1s: err = %v, want ErrRevoked", skew, err)
			}
			e.clock.Advance(time.Second)
			if _, err := e.verifier.Verify(t.Context(), p.AccessToken); !errors.Is(err, auth.ErrExpired) {
				t.Fatalf("at exp+leeway: err = %v, want ErrExpired", err)
			}
		})
	}
}
