package token_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	jose "github.com/go-jose/go-jose/v4"
)

// A relying party that knows only the published JWKS JSON (or, for HS256,
// the shared secret) verifies gatehouse tokens with an independent JOSE
// implementation — before and after a key rotation.
func TestInteropGoJose(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			before, _ := e.issue(t)
			raws := []string{before}
			if alg != keys.HS256 {
				if _, err := e.keys.Rotate(t.Context()); err != nil {
					t.Fatal(err)
				}
				after, _ := e.issue(t)
				raws = append(raws, after)
			}
			jwks := e.keys.JWKS() // what /.well-known/jwks.json serves
			for _, raw := range raws {
				payload := joseVerify(t, alg, raw, jwks)
				var c token.Claims
				if err := json.Unmarshal(payload, &c); err != nil {
					t.Fatal(err)
				}
				if c.Subject != "u-alice" || c.Issuer != testIssuer || !slices.Equal(c.Audience, []string{"gatehouse"}) ||
					!c.ExpiresAt.After(e.clock.Now()) || c.ExpiresAt.Sub(e.clock.Now()) > accessTTL+time.Second {
					t.Errorf("claims seen by go-jose = %+v", c)
				}
			}
		})
	}
}

func joseVerify(t *testing.T, alg, raw string, jwksJSON []byte) []byte {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	h := jws.Signatures[0].Protected
	if got, want := h.ExtraHeaders[jose.HeaderType], any("at+jwt"); got != want {
		t.Errorf("typ = %v, want %v", got, want)
	}
	var key any = []byte(hmacSecret)
	if alg != keys.HS256 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(jwksJSON, &set); err != nil {
			t.Fatalf("parse JWKS: %v", err)
		}
		found := set.Key(h.KeyID)
		if len(found) != 1 {
			t.Fatalf("JWKS has %d keys with kid %q, want 1", len(found), h.KeyID)
		}
		key = found[0]
	}
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("go-jose verify: %v", err)
	}
	return payload
}
