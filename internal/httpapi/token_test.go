package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func tokenRequest(t *testing.T, g *testutil.Instance, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	return resp, decode(t, body)
}

func passwordGrant(t *testing.T, g *testutil.Instance, user, pw string) map[string]any {
	t.Helper()
	resp, m := tokenRequest(t, g, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}, "scope": {"orders:read"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant = %d %v", resp.StatusCode, m)
	}
	return m
}

func refresh(t *testing.T, g *testutil.Instance, rt string) (int, map[string]any) {
	t.Helper()
	resp, m := tokenRequest(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return resp.StatusCode, m
}

func userinfo(t *testing.T, g *testutil.Instance, access string) (*http.Response, string) {
	t.Helper()
	return do(t, testutil.Client(t), "GET", g.URL+"/auth/userinfo", "", "Authorization", "Bearer "+access)
}

func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact token: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPasswordGrant(t *testing.T) {
	g := testutil.Start(t)
	u := g.CreateUser(t, "alice", strongPassword, "user")
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token",
		url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}, "scope": {"admin orders:read"}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	m := decode(t, body)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(600) || m["scope"] != "" || m["refresh_token"] == "" {
		t.Errorf("response = %v", m)
	}
	access := m["access_token"].(string)
	h := jwtPart(t, access, 0)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] == nil {
		t.Errorf("header = %v", h)
	}
	c := jwtPart(t, access, 1)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "username", "roles", "scope", "sid"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %q missing: %v", k, c)
		}
	}
	// Issue 13: a requested scope never lands in the token unchecked; the
	// built-in client of the password grant may have none.
	if c["iss"] != g.URL || c["sub"] != u.ID || c["username"] != "alice" || c["scope"] != "" || c["client_id"] != "gatehouse" {
		t.Errorf("claims = %v", c)
	}
	resp, body = userinfo(t, g, access)
	if resp.StatusCode != http.StatusOK || decode(t, body)["sub"] != u.ID {
		t.Errorf("userinfo = %d %s", resp.StatusCode, body)
	}
	g.AssertLogsDoNotContain(t, strongPassword, access, m["refresh_token"].(string))
}

func TestTokenEndpointErrors(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	tests := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"wrong password", "grant_type=password&username=alice&password=nope-nope-nope", "application/x-www-form-urlencoded", 400, "invalid_grant"},
		{"unknown user", "grant_type=password&username=nobody&password=nope-nope-nope", "application/x-www-form-urlencoded", 400, "invalid_grant"},
		{"missing password", "grant_type=password&username=alice", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"missing grant_type", "username=alice", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"unsupported grant", "grant_type=implicit", "application/x-www-form-urlencoded", 400, "unsupported_grant_type"},
		{"client_credentials without client", "grant_type=client_credentials", "application/x-www-form-urlencoded", 401, "invalid_client"},
		{"unknown client_id on password grant", "grant_type=password&username=alice&password=x&client_id=made-up", "application/x-www-form-urlencoded", 401, "invalid_client"},
		{"unknown refresh token", "grant_type=refresh_token&refresh_token=bm90LWEtdG9rZW4", "application/x-www-form-urlencoded", 400, "invalid_grant"},
		{"repeated parameter", "grant_type=password&username=alice&username=bob&password=x", "application/x-www-form-urlencoded", 400, "invalid_request"},
		{"JSON body", `{"grant_type":"password"}`, "application/json", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", tt.body, "Content-Type", tt.contentType)
			if resp.StatusCode != tt.status || decode(t, body)["error"] != tt.code {
				t.Errorf("= %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
		})
	}
}

func TestPasswordGrantCanBeDisabled(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Tokens.PasswordGrant = false }))
	g.CreateUser(t, "alice", strongPassword)
	resp, m := tokenRequest(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}})
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "unsupported_grant_type" {
		t.Errorf("= %d %v", resp.StatusCode, m)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	first := passwordGrant(t, g, "alice", strongPassword)
	rt1 := first["refresh_token"].(string)

	status, second := refresh(t, g, rt1)
	if status != http.StatusOK {
		t.Fatalf("refresh = %d %v", status, second)
	}
	rt2 := second["refresh_token"].(string)
	if rt2 == rt1 {
		t.Fatal("refresh returned the same refresh token")
	}
	if sid1, sid2 := jwtPart(t, first["access_token"].(string), 1)["sid"], jwtPart(t, second["access_token"].(string), 1)["sid"]; sid1 != sid2 {
		t.Errorf("sid changed across refresh: %v → %v", sid1, sid2)
	}
	// The old one is refused, and presenting it again kills the family:
	// the newest refresh token and the access tokens of the family die too.
	if status, m := refresh(t, g, rt1); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token = %d %v", status, m)
	}
	if status, _ := refresh(t, g, rt2); status != http.StatusBadRequest {
		t.Errorf("newest refresh token after reuse = %d, want 400", status)
	}
	if resp, _ := userinfo(t, g, second["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of a revoked family = %d, want 401", resp.StatusCode)
	}
}

func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	rt := passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string)
	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", g.URL+"/auth/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i)
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		} else if s != http.StatusBadRequest {
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1 (%v)", ok, n, statuses)
	}
}

func TestRevokeEndpoint(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	revoke := func(form url.Values) int {
		resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		return resp.StatusCode
	}
	t.Run("refresh token revokes its family", func(t *testing.T) {
		m := passwordGrant(t, g, "alice", strongPassword)
		if got := revoke(url.Values{"token": {m["refresh_token"].(string)}, "token_type_hint": {"refresh_token"}}); got != http.StatusOK {
			t.Fatalf("revoke = %d", got)
		}
		if status, _ := refresh(t, g, m["refresh_token"].(string)); status != http.StatusBadRequest {
			t.Errorf("refresh after revoke = %d", status)
		}
		if resp, _ := userinfo(t, g, m["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("access token after its family was revoked = %d", resp.StatusCode)
		}
	})
	t.Run("access token is denied until it expires", func(t *testing.T) {
		m := passwordGrant(t, g, "alice", strongPassword)
		access := m["access_token"].(string)
		if resp, _ := userinfo(t, g, access); resp.StatusCode != http.StatusOK {
			t.Fatalf("before revoke: %d", resp.StatusCode)
		}
		if got := revoke(url.Values{"token": {access}}); got != http.StatusOK {
			t.Fatalf("revoke = %d", got)
		}
		resp, _ := userinfo(t, g, access)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("after revoke: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// The refresh token of the same grant still works (RFC 7009 leaves
		// it to the server; gatehouse revokes only what was presented).
		if status, _ := refresh(t, g, m["refresh_token"].(string)); status != http.StatusOK {
			t.Errorf("refresh after access-token revoke = %d", status)
		}
	})
	t.Run("unknown and garbage tokens are 200", func(t *testing.T) {
		for _, tok := range []string{"nonsense", "a.b.c", strings.Repeat("x", 5000)} {
			if got := revoke(url.Values{"token": {tok}}); got != http.StatusOK {
				t.Errorf("revoke %q… = %d, want 200", tok[:5], got)
			}
		}
	})
}

func TestDisabledUserLosesTokens(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	m := passwordGrant(t, g, "alice", strongPassword)
	if _, err := g.App.Users.SetDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	if status, _ := refresh(t, g, m["refresh_token"].(string)); status != http.StatusBadRequest {
		t.Errorf("refresh of a disabled user = %d, want 400", status)
	}
	if resp, _ := userinfo(t, g, m["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of a disabled user = %d, want 401", resp.StatusCode)
	}
}

func TestUserinfo(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword, "user")
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", strongPassword)
	resp, body := do(t, c, "GET", g.URL+"/auth/userinfo", "")
	if m := decode(t, body); resp.StatusCode != http.StatusOK || m["username"] != "alice" {
		t.Errorf("userinfo by session = %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, testutil.Client(t), "GET", g.URL+"/auth/userinfo", "")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
		t.Errorf("no credentials = %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = userinfo(t, g, "not.a.token")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token = %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestDiscoveryDocuments(t *testing.T) {
	g := testutil.Start(t)
	resp, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/jwks.json", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("jwks = %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	keys := decode(t, body)["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kty"] != "EC" || keys[0].(map[string]any)["d"] != nil {
		t.Errorf("jwks keys = %v", keys)
	}
	for _, doc := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, body = do(t, testutil.Client(t), "GET", g.URL+doc, "")
		m := decode(t, body)
		if resp.StatusCode != http.StatusOK || m["issuer"] != g.URL || m["token_endpoint"] != g.URL+"/auth/token" ||
			m["jwks_uri"] != g.URL+"/.well-known/jwks.json" || m["revocation_endpoint"] != g.URL+"/auth/revoke" ||
			m["authorization_endpoint"] != g.URL+"/auth/authorize" || m["userinfo_endpoint"] != g.URL+"/auth/userinfo" ||
			m["end_session_endpoint"] != g.URL+"/auth/end_session" {
			t.Errorf("%s = %v", doc, m)
		}
		// Issue 13: response_types_supported was empty and authlib refused it.
		for key, want := range map[string]string{
			"response_types_supported":                       "[code]",
			"code_challenge_methods_supported":               "[S256]",
			"grant_types_supported":                          "[authorization_code refresh_token client_credentials password]",
			"token_endpoint_auth_methods_supported":          "[client_secret_basic client_secret_post none]",
			"id_token_signing_alg_values_supported":          "[ES256]",
			"scopes_supported":                               "[openid profile email offline_access]",
			"authorization_response_iss_parameter_supported": "true",
			"backchannel_logout_supported":                   "true",
			"backchannel_logout_session_supported":           "true",
		} {
			if got := fmt.Sprint(m[key]); got != want {
				t.Errorf("%s %s = %s, want %s", doc, key, got, want)
			}
		}
	}
}

func TestHS256PublishesNoKeys(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Tokens.Algorithm = "HS256"
		c.Tokens.HMACSecret = strings.Repeat("0123456789abcdef", 3)
	}))
	_, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/jwks.json", "")
	if strings.TrimSpace(body) != `{"keys":[]}` {
		t.Errorf("HS256 jwks = %s", body)
	}
	g.CreateUser(t, "alice", strongPassword)
	m := passwordGrant(t, g, "alice", strongPassword)
	if resp, _ := userinfo(t, g, m["access_token"].(string)); resp.StatusCode != http.StatusOK {
		t.Errorf("HS256 token = %d", resp.StatusCode)
	}
}

// TestTokenRequestWithQueryIsRefused: the token and revocation endpoints
// take their parameters from the form body only (RFC 6749 §3.2: POST). A request
// whose URL carries a query, such as a client_secret or a password, is
// refused with 400 invalid_request rather than served from the body with
// the query ignored: the URL is what proxies and servers log, so a client
// sending secrets there must learn it at once.
func TestTokenRequestWithQueryIsRefused(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	body := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}.Encode()
	for _, query := range []string{
		"password=" + url.QueryEscape(strongPassword),
		"client_secret=s3cret",
		"grant_type=password",
		"x",
	} {
		t.Run(query, func(t *testing.T) {
			resp, out := do(t, testutil.Client(t), "POST", g.URL+"/auth/token?"+query, body, "Content-Type", "application/x-www-form-urlencoded")
			m := decode(t, out)
			if resp.StatusCode != 400 || m["error"] != "invalid_request" {
				t.Errorf("= %d %s, want 400 invalid_request", resp.StatusCode, out)
			}
			if m["access_token"] != nil {
				t.Error("a token was issued")
			}
		})
	}
	// The revocation endpoint reads the same way (RFC 7009 §2.1).
	if resp, out := do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke?token=x", "token=x", "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != 400 || decode(t, out)["error"] != "invalid_request" {
		t.Errorf("revoke with a query = %d %s, want 400 invalid_request", resp.StatusCode, out)
	}
	// The same body without a query is served.
	if resp, out := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", body, "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != 200 {
		t.Errorf("without a query = %d %s, want 200", resp.StatusCode, out)
	}
}
