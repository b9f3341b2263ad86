package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The tests in this file pin claims of the contract's §2 (configuration
// defaults as served), §3 (sessions) and §4 (tokens) that no other test
// asserted as such.

// TestSessionListNeedsASession: GET /auth/sessions without a session is
// 401 {"error":"unauthorized"} (contract §3), as GET /auth/session is.
func TestSessionListNeedsASession(t *testing.T) {
	g := testutil.Start(t)
	for _, c := range []*http.Client{
		testutil.Client(t),
		withCookie(t, g.URL, &http.Cookie{Name: "gatehouse", Value: strings.Repeat("A", 43)}),
	} {
		resp, body := do(t, c, "GET", g.URL+"/auth/sessions", "")
		if resp.StatusCode != http.StatusUnauthorized || strings.TrimSpace(body) != `{"error":"unauthorized"}` {
			t.Errorf("GET /auth/sessions without a live session = %d %s, want 401 unauthorized", resp.StatusCode, body)
		}
	}
}

// TestSessionResponseNamesTheUser: GET /auth/session answers the user
// as the JSON login does, {"id","username","roles"}, next to the session
// (contract §3).
func TestSessionResponseNamesTheUser(t *testing.T) {
	g := testutil.Start(t)
	u := g.CreateUser(t, "alice", strongPassword, "user", "admin")
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", strongPassword)
	resp, body := do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/session = %d %s", resp.StatusCode, body)
	}
	user, _ := decode(t, body)["user"].(map[string]any)
	if user["id"] != u.ID || user["username"] != "alice" || fmt.Sprint(user["roles"]) != "[admin user]" {
		t.Errorf("user = %v, want id %s, username alice, roles [admin user]", user, u.ID)
	}
}

// TestConfiguredCookieName: sessions.cookie.name replaces the cookie's
// name everywhere: login sets it, it authenticates, logout clears it; a
// cookie under the default name is then nobody's session. A configured
// name is used as it is, secure or not (the __Host- prefix is the
// default name's, docs/sessions.md).
func TestConfiguredCookieName(t *testing.T) {
	for _, secure := range []string{"auto", "true"} {
		t.Run("secure "+secure, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				c.Sessions.Cookie.Name = "mysess"
				c.Sessions.Cookie.Secure = secure
			}))
			g.CreateUser(t, "alice", strongPassword)
			resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login = %d %s", resp.StatusCode, body)
			}
			ck := sessionCookie(t, resp, "mysess")
			if !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode || ck.Secure != (secure == "true") {
				t.Errorf("Set-Cookie %q", resp.Header.Values("Set-Cookie"))
			}
			for _, other := range resp.Cookies() {
				if other.Name == "gatehouse" || other.Name == "__Host-gatehouse" {
					t.Errorf("login also set %s", other.Name)
				}
			}
			if resp, body := do(t, withCookie(t, g.URL, ck), "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("GET /auth/session with mysess = %d %s", resp.StatusCode, body)
			}
			asDefault := &http.Cookie{Name: "gatehouse", Value: ck.Value}
			if resp, _ := do(t, withCookie(t, g.URL, asDefault), "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("the session ID under the default name = %d, want 401", resp.StatusCode)
			}
			resp, _ = do(t, withCookie(t, g.URL, ck), "POST", g.URL+"/auth/logout", "")
			if cleared := sessionCookie(t, resp, "mysess"); resp.StatusCode != http.StatusNoContent || cleared.MaxAge >= 0 {
				t.Errorf("logout = %d, Set-Cookie %q: want 204 clearing mysess", resp.StatusCode, resp.Header.Values("Set-Cookie"))
			}
			if resp, _ := do(t, withCookie(t, g.URL, ck), "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("after logout = %d, want 401", resp.StatusCode)
			}
		})
	}
}

// TestMemorySessionStore: sessions.store "" keeps sessions in the main
// store, so they outlive a restart; "memory" keeps them in the process,
// so a restart ends them (contract §2). Either way a login works.
func TestMemorySessionStore(t *testing.T) {
	for _, tt := range []struct {
		store    string
		survives bool
	}{{"", true}, {"memory", false}} {
		t.Run(fmt.Sprintf("store %q", tt.store), func(t *testing.T) {
			db := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
			cfg := testutil.WithConfig(func(c *config.Config) { c.Store, c.Sessions.Store = db, tt.store })
			g := testutil.Start(t, cfg)
			g.CreateUser(t, "alice", strongPassword)
			resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login = %d %s", resp.StatusCode, body)
			}
			ck := sessionCookie(t, resp, "gatehouse")
			g.Stop()

			again := testutil.Start(t, cfg)
			resp, body = do(t, withCookie(t, again.URL, ck), "GET", again.URL+"/auth/session", "")
			if got := resp.StatusCode == http.StatusOK; got != tt.survives {
				t.Errorf("session after a restart = %d %s, want it alive: %v", resp.StatusCode, body, tt.survives)
			}
		})
	}
}

// TestAccessTokenFollowsTheConfig: the password grant's access token
// carries tokens.audience as aud (["gatehouse"] by default) and lives
// tokens.access_ttl (10m by default): exp − iat and expires_in agree, and
// nbf is iat (contract §2, §4).
func TestAccessTokenFollowsTheConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		aud    []string
		ttl    float64
	}{
		{"defaults", func(*config.Config) {}, []string{"gatehouse"}, 600},
		{"configured", func(c *config.Config) {
			c.Tokens.Audience = []string{"orders", "billing"}
			c.Tokens.AccessTTL = config.Duration(5 * time.Minute)
		}, []string{"orders", "billing"}, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(tt.mutate))
			g.CreateUser(t, "alice", strongPassword, "user", "admin")
			m := passwordGrant(t, g, "alice", strongPassword)
			if m["expires_in"] != tt.ttl {
				t.Errorf("expires_in = %v, want %v", m["expires_in"], tt.ttl)
			}
			c := jwtPart(t, m["access_token"].(string), 1)
			if aud := anyStrings(c["aud"]); !slices.Equal(aud, tt.aud) {
				t.Errorf("aud = %v, want %v", c["aud"], tt.aud)
			}
			iat, _ := c["iat"].(float64)
			if exp, _ := c["exp"].(float64); exp-iat != tt.ttl || c["nbf"] != c["iat"] {
				t.Errorf("exp %v, iat %v, nbf %v: want exp − iat = %v and nbf = iat", c["exp"], c["iat"], c["nbf"], tt.ttl)
			}
			if roles, ok := c["roles"].([]any); !ok || fmt.Sprint(roles) != "[admin user]" {
				t.Errorf("roles = %#v, want the array [admin user]", c["roles"])
			}
			if _, ok := c["scope"].(string); !ok {
				t.Errorf("scope = %#v, want a string", c["scope"])
			}
		})
	}
}

// TestDefaultLeewayAtTheBoundary: an access token is accepted until its
// exp plus tokens.leeway (30s by default) and refused after (contract §4).
func TestDefaultLeewayAtTheBoundary(t *testing.T) {
	clock := testutil.NewClock()
	g := testutil.Start(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	access := passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	exp := time.Unix(int64(jwtPart(t, access, 1)["exp"].(float64)), 0)

	advanceTo(clock, exp.Add(29*time.Second))
	if resp, body := userinfo(t, g, access); resp.StatusCode != http.StatusOK {
		t.Errorf("29s after exp = %d %s, want 200 (leeway 30s)", resp.StatusCode, body)
	}
	advanceTo(clock, exp.Add(31*time.Second))
	if resp, _ := userinfo(t, g, access); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("31s after exp = %d, want 401", resp.StatusCode)
	}
}

// TestRotatedKeyStaysInJWKSForAccessTTLPlusLeeway: after a rotation the
// old key keeps verifying and stays in the JWKS until access_ttl + leeway
// (10m30s by default) have passed, then leaves it (contract §4).
func TestRotatedKeyStaysInJWKSForAccessTTLPlusLeeway(t *testing.T) {
	clock := testutil.NewClock()
	g := testutil.Start(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	access := passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	old := jwtPart(t, access, 0)["kid"].(string)
	kids := func() []string {
		t.Helper()
		_, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/jwks.json", "")
		var out []string
		for _, k := range decode(t, body)["keys"].([]any) {
			out = append(out, k.(map[string]any)["kid"].(string))
		}
		return out
	}
	rotatedAt := clock.Now()
	next, err := g.App.Keys.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(); !slices.Contains(got, old) || !slices.Contains(got, next) {
		t.Fatalf("JWKS right after rotate = %v, want old %s and new %s", got, old, next)
	}
	if resp, body := userinfo(t, g, access); resp.StatusCode != http.StatusOK {
		t.Errorf("token of the old key right after rotate = %d %s", resp.StatusCode, body)
	}
	advanceTo(clock, rotatedAt.Add(10*time.Minute+29*time.Second))
	if got := kids(); !slices.Contains(got, old) {
		t.Errorf("JWKS 10m29s after rotate = %v, want the old key %s still there", got, old)
	}
	advanceTo(clock, rotatedAt.Add(10*time.Minute+31*time.Second))
	if got := kids(); slices.Contains(got, old) || !slices.Contains(got, next) {
		t.Errorf("JWKS 10m31s after rotate = %v, want only the new key %s", got, next)
	}
}

// TestRefreshTokenLifetimeDefaults: a refresh token unused for
// tokens.refresh_idle_ttl (336h by default) is refused, and a family used
// steadily ends tokens.refresh_ttl (720h by default) after its login, both
// with 400 invalid_grant (contract §2, §4).
func TestRefreshTokenLifetimeDefaults(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		clock := testutil.NewClock()
		g := testutil.Start(t, testutil.WithClock(clock))
		g.CreateUser(t, "alice", strongPassword)
		rt := passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string)
		clock.Advance(335 * time.Hour)
		status, m := refresh(t, g, rt)
		if status != http.StatusOK {
			t.Fatalf("refresh after 335h unused = %d %v, want 200", status, m)
		}
		clock.Advance(336*time.Hour + time.Minute)
		if status, m := refresh(t, g, m["refresh_token"].(string)); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("refresh after 336h1m unused = %d %v, want 400 invalid_grant", status, m)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		clock := testutil.NewClock()
		g := testutil.Start(t, testutil.WithClock(clock))
		g.CreateUser(t, "alice", strongPassword)
		login := clock.Now()
		rt := passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string)
		for _, at := range []time.Duration{300 * time.Hour, 600 * time.Hour, 719 * time.Hour} {
			advanceTo(clock, login.Add(at))
			status, m := refresh(t, g, rt)
			if status != http.StatusOK {
				t.Fatalf("refresh at %v = %d %v, want 200", at, status, m)
			}
			rt = m["refresh_token"].(string)
		}
		advanceTo(clock, login.Add(720*time.Hour+time.Minute))
		if status, m := refresh(t, g, rt); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("refresh 720h1m after login = %d %v, want 400 invalid_grant", status, m)
		}
	})
}

// advanceTo moves clock forward to at.
func advanceTo(clock *testutil.Clock, at time.Time) { clock.Advance(at.Sub(clock.Now())) }

// TestStoreHoldsOnlyHashesOfSecrets: the session cookie's value and the
// refresh token (each ≥ 256 random bits, base64url; the refresh token
// opaque, not a JWT) are stored only as their SHA-256, so a copy of the
// database holds neither (contract §3, §4). The SQLite files are read
// byte for byte, write-ahead log included; finding the hashes there shows
// the files read are the ones written.
func TestStoreHoldsOnlyHashesOfSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store = "sqlite://" + path }))
	g.CreateUser(t, "alice", strongPassword)
	resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	cookie := sessionCookie(t, resp, "gatehouse").Value
	rt := passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string)
	base64url := regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)
	if !base64url.MatchString(rt) || strings.Contains(rt, ".") {
		t.Errorf("refresh token %q… is not ≥ 256 bits of opaque base64url", rt[:min(8, len(rt))])
	}
	g.Stop() // every write is in the files

	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	for name, secret := range map[string]string{"session cookie": cookie, "refresh token": rt} {
		sum := sha256.Sum256([]byte(secret))
		if bytes.Contains(files, []byte(secret)) {
			t.Errorf("the database holds the %s itself", name)
		}
		if !bytes.Contains(files, []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) {
			t.Errorf("the database does not hold the SHA-256 of the %s (were the right files read?)", name)
		}
	}
}
