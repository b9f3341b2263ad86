package keys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// cachingVerifier is a service outside gatehouse that verifies tokens
// against the JWKS the way many libraries do: it keeps the set for the
// response's Cache-Control max-age and refetches only when that has passed —
// never because a token names a kid it does not know (go-jose key sets
// fetched by hand, rate-limited or timer-only refreshers).
type cachingVerifier struct {
	url   string
	now   func() time.Time
	mu    sync.Mutex
	set   jose.JSONWebKeySet
	until time.Time
}

func (v *cachingVerifier) keys(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.now().Before(v.until) {
		return v.set
	}
	resp, err := http.Get(v.url)
	if err != nil {
		t.Fatalf("fetch JWKS: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &v.set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	age, ok := strings.CutPrefix(resp.Header.Get("Cache-Control"), "public, max-age=")
	secs, err := strconv.Atoi(age)
	if !ok || err != nil {
		t.Fatalf("JWKS Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	v.until = v.now().Add(time.Duration(secs) * time.Second)
	return v.set
}

// verify checks tok's signature with the cached key its kid names.
func (v *cachingVerifier) verify(t *testing.T, tok string) error {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Header.KeyID
	set := v.keys(t)
	found := set.Key(kid)
	if len(found) == 0 {
		return fmt.Errorf("unknown kid %s", kid)
	}
	_, err = jws.Verify(found[0])
	return err
}

// sign makes a token with s's current signing key, as the token issuer does.
func sign(t *testing.T, s *keys.Set, now time.Time) string {
	t.Helper()
	kid, alg, key := s.Signing()
	m := jwt.GetSigningMethod(alg)
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": "u", "iat": now.Unix()})
	tok.Header["kid"] = kid
	out, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Interop: a verifier outside gatehouse that honours the JWKS Cache-Control
// (max-age=60, as /.well-known/jwks.json sends it) and refetches on its own
// schedule rejects no token across scheduled rotations, because the next key
// is in the JWKS before it signs. Instances reload every 30 s (as serve does).
func TestScheduledRotationInteropWithCachingVerifier(t *testing.T) {
	const every = 2 * time.Hour
	for _, alg := range asymmetric {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			c := clocktest.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			s := newSet(t, b0(t), alg, c, rightKey)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(keys.JWKSMaxAge/time.Second)))
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(s.JWKS())
			}))
			t.Cleanup(srv.Close)
			v := &cachingVerifier{url: srv.URL, now: c.Now}
			kids := map[string]bool{}
			// The verifier's refetches fall between the instance's reloads.
			v.keys(t)
			c.Advance(20 * time.Second)
			for step := time.Duration(0); step <= 3*every; step += 10 * time.Second {
				if step%(30*time.Second) == 0 {
					keys.Tick(ctx, s, every)
				}
				tok := sign(t, s, c.Now())
				kid, _, _ := s.Signing()
				kids[kid] = true
				if err := v.verify(t, tok); err != nil {
					t.Fatalf("at +%s the verifier rejected a fresh token: %v", step, err)
				}
				c.Advance(10 * time.Second)
			}
			if len(kids) < 3 {
				t.Fatalf("tokens were signed with %d keys over three periods, want at least 3 (rotations happened)", len(kids))
			}
		})
	}
}

// b0 opens the first real backend (SQLite) for one instance.
func b0(t *testing.T) keys.Store { return backends[0].open(t)() }
