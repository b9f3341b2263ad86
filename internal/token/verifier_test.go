package token_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/golang-jwt/jwt/v5"
)

func TestIssueAndVerify(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			raw, claims := e.issue(t)
			p, err := e.verifier.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := auth.Principal{Subject: "u-alice", Username: "alice", Roles: []string{"user"}, Method: auth.MethodToken,
				SessionID: "fam-1", TokenID: claims.ID, Scope: "openid", ExpiresAt: e.clock.Now().Add(accessTTL)}
			if !samePrincipal(p, want) {
				t.Errorf("Principal = %+v, want %+v", p, want)
			}

			tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			kid, _, _ := e.keys.Signing()
			for k, v := range map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid} {
				if got := tok.Header[k]; got != v {
					t.Errorf("header %s = %v, want %v", k, got, v)
				}
			}
			mc := tok.Claims.(jwt.MapClaims)
			for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "username", "roles", "scope", "sid"} {
				if _, ok := mc[k]; !ok {
					t.Errorf("claim %s missing (RFC 9068 profile)", k)
				}
			}
			if _, ok := mc["roles"].([]any); !ok {
				t.Errorf("roles = %T, want a JSON array", mc["roles"])
			}
			jti, err := base64.RawURLEncoding.DecodeString(claims.ID)
			if err != nil || len(jti) < 16 {
				t.Errorf("jti %q has %d random bytes, want >= 16", claims.ID, len(jti))
			}
		})
	}
}

func TestIssueUniqueJTI(t *testing.T) {
	e := newEnv(t, keys.HS256)
	seen := map[string]bool{}
	for range 100 {
		_, c := e.issue(t)
		if seen[c.ID] {
			t.Fatalf("jti %q issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestVerifyExpiryWithLeeway(t *testing.T) {
	e := newEnv(t, keys.ES256)
	raw, _ := e.issue(t)
	e.clock.Advance(accessTTL + leeway - time.Second)
	if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
		t.Fatalf("within leeway after exp: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err := e.verifier.Verify(t.Context(), raw)
	if !errors.Is(err, auth.ErrExpired) || !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("at exp+leeway err = %v, want ErrExpired and ErrUnauthenticated", err)
	}
}

func TestVerifyNotBeforeWithLeeway(t *testing.T) {
	e := newEnv(t, keys.EdDSA)
	c := validClaims(e)
	c.NotBefore = jwt.NewNumericDate(e.clock.Now().Add(leeway))
	if _, err := e.verifier.Verify(t.Context(), signReal(t, e, nil, c)); err != nil {
		t.Fatalf("nbf within leeway: %v", err)
	}
	c.NotBefore = jwt.NewNumericDate(e.clock.Now().Add(leeway + 2*time.Second))
	if _, err := e.verifier.Verify(t.Context(), signReal(t, e, nil, c)); !errors.Is(err, jwt.ErrTokenNotValidYet) {
		t.Fatalf("nbf beyond leeway err = %v, want not valid yet", err)
	}
}

// Revocation is checked with and without the cache, and on cache hits.
func TestVerifyRevocation(t *testing.T) {
	for _, cacheSize := range []int{0, 100} {
		for _, kind := range []string{"jti", "sid"} {
			t.Run(kind+"/cache="+strconv.Itoa(cacheSize), func(t *testing.T) {
				e := newEnv(t, keys.ES256, token.WithCacheSize(cacheSize))
				raw, c := e.issue(t)
				if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
					t.Fatal(err) // warms the cache
				}
				key := map[string]string{"jti": c.ID, "sid": c.SessionID}[kind]
				publish(t, e, kind, key, c.ExpiresAt.Time)
				_, err := e.verifier.Verify(t.Context(), raw)
				if !errors.Is(err, auth.ErrRevoked) || !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("revoked %s err = %v, want ErrRevoked", kind, err)
				}
				other, _, _ := e.issuer.Issue(token.Subject{UserID: "u-bob", SessionID: "fam-2"}, 0)
				if _, err := e.verifier.Verify(t.Context(), other); err != nil {
					t.Errorf("an unrelated token is refused: %v", err)
				}
			})
		}
	}
}

// A deny-list that does not answer must fail closed with ErrUnavailable
// (503), not look like a bad token (401) and never allow — cached or not.
func TestVerifyFailsClosedWhenDenyListDown(t *testing.T) {
	for _, cacheSize := range []int{0, 100} {
		t.Run("cache="+strconv.Itoa(cacheSize), func(t *testing.T) {
			e := newEnv(t, keys.ES256, token.WithCacheSize(cacheSize))
			raw, _ := e.issue(t)
			if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
				t.Fatal(err)
			}
			e.deny.setFail(auth.ErrUnavailable)
			_, err := e.verifier.Verify(t.Context(), raw)
			if !errors.Is(err, auth.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("err = %v also matches ErrUnauthenticated; it must map to 503, not 401", err)
			}
		})
	}
}

func TestVerifyCacheNeverOutlivesToken(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithCacheSize(10))
	raw, _ := e.issue(t)
	if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(accessTTL + leeway)
	if _, err := e.verifier.Verify(t.Context(), raw); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("cached token after exp+leeway err = %v, want ErrExpired", err)
	}
}

// Cache hits share the cached roles and amr (no copy per request), so two
// requests that each append to their principal's roles must not see each
// other's appends.
func TestVerifyCacheHitsDoNotShareAppends(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithCacheSize(10))
	raw, _ := e.issue(t)
	if _, err := e.verifier.Verify(t.Context(), raw); err != nil { // fills the cache
		t.Fatal(err)
	}
	hit := func(role string) auth.Principal {
		p, err := e.verifier.Verify(t.Context(), raw)
		if err != nil {
			t.Fatal(err)
		}
		p.Roles = append(p.Roles, role)
		p.AMR = append(p.AMR, role)
		return p
	}
	a, b := hit("admin"), hit("ops")
	if !slices.Equal(a.Roles, []string{"user", "admin"}) || !slices.Equal(a.AMR, []string{"admin"}) {
		t.Fatalf("first hit after the second appended: roles %q, amr %q", a.Roles, a.AMR)
	}
	if !slices.Equal(b.Roles, []string{"user", "ops"}) {
		t.Fatalf("second hit: roles %q", b.Roles)
	}
	if p, _ := e.verifier.Verify(t.Context(), raw); !slices.Equal(p.Roles, []string{"user"}) || len(p.AMR) != 0 {
		t.Fatalf("cached principal after callers appended: roles %q, amr %q; want [user] and none", p.Roles, p.AMR)
	}
}

func TestVerifyCacheUntrustedStillChecks(t *testing.T) {
	trusted := false
	e := newEnv(t, keys.ES256, token.WithCacheSize(10), token.WithCacheTrust(func() bool { return trusted }))
	raw, c := e.issue(t)
	for _, tr := range []bool{true, false} {
		trusted = tr
		if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
			t.Fatalf("trusted=%v: %v", tr, err)
		}
	}
	publish(t, e, "jti", c.ID, c.ExpiresAt.Time)
	for _, tr := range []bool{false, true} {
		trusted = tr
		if _, err := e.verifier.Verify(t.Context(), raw); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("trusted=%v: err = %v, want ErrRevoked", tr, err)
		}
	}
}

// Tokens signed before a rotation keep verifying until the old key retires
// (access_ttl + leeway after rotation), then fail — cached or not.
func TestKeyRotation(t *testing.T) {
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		for _, cacheSize := range []int{0, 10} {
			t.Run(alg+"/cache="+strconv.Itoa(cacheSize), func(t *testing.T) {
				e := newEnv(t, alg, token.WithCacheSize(cacheSize))
				before, _, err := e.issuer.Issue(token.Subject{UserID: "u-alice"}, 2*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.verifier.Verify(t.Context(), before); err != nil {
					t.Fatal(err)
				}
				if _, err := e.keys.Rotate(t.Context()); err != nil {
					t.Fatal(err)
				}
				after, _, err := e.issuer.Issue(token.Subject{UserID: "u-alice"}, 2*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if kidOf(t, before) == kidOf(t, after) {
					t.Fatal("token after rotation signed with the old kid")
				}
				for name, raw := range map[string]string{"before": before, "after": after} {
					if _, err := e.verifier.Verify(t.Context(), raw); err != nil {
						t.Errorf("%s-rotation token right after rotation: %v", name, err)
					}
				}
				e.clock.Advance(accessTTL + leeway)
				if _, err := e.verifier.Verify(t.Context(), before); !errors.Is(err, keys.ErrRetiredKey) {
					t.Errorf("old-key token after grace err = %v, want ErrRetiredKey", err)
				}
				if _, err := e.verifier.Verify(t.Context(), after); err != nil {
					t.Errorf("new-key token after grace: %v", err)
				}
			})
		}
	}
}

// An instance that has not reloaded learns a key another instance just
// rotated to when a token names it (keys.Set.LearnKey), without waiting for
// the "keys" event. Within keys.LearnEvery of that store read it does not
// read again: the next new key waits for Reload (driven by the event).
func TestOtherInstanceLearnsNewKey(t *testing.T) {
	c := newClock()
	store := sqlitetest.New(t)
	ka, kb := newKeySet(t, keys.ES256, c, store), newKeySet(t, keys.ES256, c, store)
	opts := []token.Option{token.WithIssuer(testIssuer), token.WithClock(c.Now), token.WithCacheSize(10)}
	issuerA := token.NewIssuer(ka, opts...)
	verifierB := token.NewVerifier(kb, nil, opts...)
	rotateAndIssue := func() string {
		t.Helper()
		if _, err := ka.Rotate(t.Context()); err != nil {
			t.Fatal(err)
		}
		raw, _, err := issuerA.Issue(token.Subject{UserID: "u-alice"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := verifierB.Verify(t.Context(), rotateAndIssue()); err != nil {
		t.Fatalf("token of a key rotated to on another instance: %v", err)
	}
	raw := rotateAndIssue()
	if _, err := verifierB.Verify(t.Context(), raw); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("second new key within %v: err = %v, want ErrUnknownKey", keys.LearnEvery, err)
	}
	if err := kb.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	verifierB.Forget("keys", "")
	if _, err := verifierB.Verify(t.Context(), raw); err != nil {
		t.Fatalf("after reload: %v", err)
	}
}

func TestIssueInternal(t *testing.T) {
	e := newEnv(t, keys.ES256)
	p := auth.Principal{Subject: "u-alice", Username: "alice", Roles: []string{"user"}, SessionID: "fam-1", Method: auth.MethodToken}
	raw, err := e.issuer.IssueInternal(p, "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifier.Verify(t.Context(), raw); !errors.Is(err, jwt.ErrTokenInvalidAudience) {
		t.Errorf("internal token replayed to gatehouse: err = %v, want invalid audience", err)
	}
	upstream := token.NewVerifier(e.keys, nil, token.WithIssuer(testIssuer), token.WithAudience([]string{"orders"}), token.WithClock(e.clock.Now))
	got, err := upstream.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("upstream verifier: %v", err)
	}
	if got.Subject != "u-alice" || !slices.Equal(got.Roles, []string{"user"}) {
		t.Errorf("internal principal = %+v", got)
	}
	if got, want := got.ExpiresAt, e.clock.Now().Add(token.InternalTTL); !got.Equal(want) {
		t.Errorf("internal exp = %v, want %v (60 s)", got, want)
	}
	if _, err := e.issuer.IssueInternal(p, "gatehouse", 0); !errors.Is(err, auth.ErrInvalidInput) {
		t.Errorf("internal token for gatehouse's own audience: err = %v, want ErrInvalidInput", err)
	}
}

// Only IssueInternal signs a token whose aud is a forward: jwt route's
// name: Sign (ID tokens, aud = client_id; logout tokens) refuses one, as
// Issue does for an access token, whatever the typ.
func TestOnlyInternalJWTsCarryARoutesName(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithInternalAudiences(func() []string { return []string{"orders"} }))
	p := auth.Principal{Subject: "u-alice", Username: "alice", Method: auth.MethodToken}
	if _, err := e.issuer.IssueInternal(p, "orders", 0); err != nil {
		t.Fatalf("IssueInternal for the route: %v", err)
	}
	for _, aud := range []any{"orders", []string{"web", "orders"}} {
		for _, typ := range []string{"JWT", "logout+jwt"} {
			if _, err := e.issuer.Sign(jwt.MapClaims{"iss": testIssuer, "sub": "u-alice", "aud": aud}, typ); !errors.Is(err, auth.ErrInvalidInput) {
				t.Errorf("Sign(%s, aud %v): err = %v, want ErrInvalidInput", typ, aud, err)
			}
		}
	}
	if _, err := e.issuer.Sign(jwt.MapClaims{"iss": testIssuer, "sub": "u-alice", "aud": "web"}, "JWT"); err != nil {
		t.Errorf("Sign(JWT, aud web): %v", err)
	}
	if _, _, err := e.issuer.Issue(token.Subject{UserID: "u-alice", Audience: []string{"orders"}}, 0); !errors.Is(err, auth.ErrInvalidInput) {
		t.Errorf("Issue(aud orders): err = %v, want ErrInvalidInput", err)
	}
}

func TestExplain(t *testing.T) {
	e := newEnv(t, keys.ES256)
	good, _ := e.issue(t)
	wrongAud := validClaims(e)
	wrongAud.Audience = jwt.ClaimStrings{"billing"}
	tests := []struct {
		name, raw, check string
	}{
		{"valid", good, ""},
		{"garbage", "x.y.z", "format"},
		{"alg", sign(t, jwt.SigningMethodHS256, []byte("k"), map[string]any{"typ": "at+jwt", "kid": "a"}, validClaims(e)), "alg"},
		{"typ", signReal(t, e, map[string]any{"typ": "JWT"}, validClaims(e)), "header"},
		{"kid", signReal(t, e, map[string]any{"kid": "nope"}, validClaims(e)), "kid"},
		{"aud", signReal(t, e, nil, wrongAud), "aud"},
		{"size", strings.Repeat("a", token.MaxTokenSize+1), "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.verifier.Explain(tt.raw)
			if got, want := r.Check, tt.check; got != want {
				t.Errorf("Check = %q, want %q (err %v)", got, want, r.Err)
			}
			if got, want := r.Valid, tt.check == ""; got != want {
				t.Errorf("Valid = %v, want %v", got, want)
			}
		})
	}
	r := e.verifier.Explain(good)
	if r.Header["kid"] == nil || r.Claims["sub"] != "u-alice" {
		t.Errorf("report does not show header and claims: %+v", r)
	}
	revoked, c := e.issue(t)
	publish(t, e, "jti", c.ID, c.ExpiresAt.Time)
	if got, want := e.verifier.ExplainContext(context.Background(), revoked).Check, "revoked"; got != want {
		t.Errorf("ExplainContext(revoked).Check = %q, want %q", got, want)
	}
}

func publish(t *testing.T, e *env, kind, key string, until time.Time) {
	t.Helper()
	if err := e.deny.Publish(t.Context(), revocationEvent(kind, key, until)); err != nil {
		t.Fatal(err)
	}
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func samePrincipal(a, b auth.Principal) bool {
	return a.Subject == b.Subject && a.Username == b.Username && slices.Equal(a.Roles, b.Roles) && a.Method == b.Method &&
		a.SessionID == b.SessionID && a.TokenID == b.TokenID && a.Scope == b.Scope && a.ExpiresAt.Equal(b.ExpiresAt)
}

// VerifyAnyAudience skips the audience check and nothing else: Verify
// refuses a token of another audience with ErrAudience (the gateway's
// check), VerifyAnyAudience accepts it, and still refuses it expired,
// revoked, or from another issuer.
func TestVerifyAnyAudienceChecksAllButAudience(t *testing.T) {
	e := newEnv(t, keys.ES256, token.WithCacheSize(100))
	issue := func() (string, token.Claims) {
		raw, c, err := e.issuer.Issue(token.Subject{UserID: "u-alice", SessionID: "fam-1", Scope: "openid", Audience: []string{"orders-api"}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return raw, c
	}
	raw, c := issue()
	if _, err := e.verifier.Verify(t.Context(), raw); !errors.Is(err, token.ErrAudience) || !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Verify of another audience = %v, want ErrAudience", err)
	}
	if p, err := e.verifier.VerifyAnyAudience(t.Context(), raw); err != nil || p.Subject != "u-alice" || p.Scope != "openid" {
		t.Fatalf("VerifyAnyAudience = %+v, %v", p, err)
	}

	other := validClaims(e)
	other.Issuer = "https://elsewhere.example"
	other.Audience = jwt.ClaimStrings{"orders-api"}
	if _, err := e.verifier.VerifyAnyAudience(t.Context(), signReal(t, e, nil, other)); !errors.Is(err, jwt.ErrTokenInvalidIssuer) {
		t.Errorf("another issuer = %v, want refused", err)
	}
	publish(t, e, "jti", c.ID, c.ExpiresAt.Time)
	if _, err := e.verifier.VerifyAnyAudience(t.Context(), raw); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("revoked = %v, want ErrRevoked", err)
	}
	raw, _ = issue()
	e.clock.Advance(accessTTL + leeway)
	if _, err := e.verifier.VerifyAnyAudience(t.Context(), raw); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("expired = %v, want ErrExpired", err)
	}
}
