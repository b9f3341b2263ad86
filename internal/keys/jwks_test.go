package keys_test

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	jose "github.com/go-jose/go-jose/v4"
)

// Interop: the published JWKS parses with go-jose, holds only public keys,
// and every kid is the RFC 7638 thumbprint of its key.
func TestJWKSInterop(t *testing.T) {
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			s := newSet(t, &memStore{}, alg, newClock())
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(s.JWKS(), &set); err != nil {
				t.Fatalf("go-jose cannot parse the JWKS: %v", err)
			}
			if got, want := len(set.Keys), 1; got != want {
				t.Fatalf("keys = %d, want %d", got, want)
			}
			k := set.Keys[0]
			if !k.IsPublic() || !k.Valid() {
				t.Fatalf("JWK public=%v valid=%v, want a valid public key", k.IsPublic(), k.Valid())
			}
			if got, want := k.Algorithm, alg; got != want {
				t.Errorf("alg = %q, want %q", got, want)
			}
			if got, want := k.Use, "sig"; got != want {
				t.Errorf("use = %q, want %q", got, want)
			}
			tp, err := k.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := k.KeyID, base64.RawURLEncoding.EncodeToString(tp); got != want {
				t.Errorf("kid = %q, want RFC 7638 thumbprint %q", got, want)
			}
			if kid, _, _ := s.Signing(); kid != k.KeyID {
				t.Errorf("JWKS kid %q is not the signing kid %q", k.KeyID, kid)
			}
		})
	}
	t.Run(keys.HS256, func(t *testing.T) {
		s, err := keys.NewSet(t.Context(), nil, keys.HS256, keys.WithHMACSecret([]byte("an-hmac-secret-of-at-least-32-bytes!!")))
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(s.JWKS(), &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 0 {
			t.Fatalf("HS256 JWKS publishes %d keys, want 0", len(set.Keys))
		}
	})
}
