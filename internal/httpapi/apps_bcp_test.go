package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The defences of RFC 9700 (OAuth 2.0 Security BCP) §4 that the other
// apps tests do not already show; docs/apps.md lists every defence with
// its test.

// authzRequest is a valid authorization request for clientID to redirect.
func authzRequest(clientID, redirect, verifier string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"openid"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "state": {"st"}}
}

// TestAuthorizeAnswersLeakNoReferrerAndCannotBeFramed: RFC 9700 §4.2.4
// (no Referer from the consent page or the redirect that carries the code)
// and §4.16 (the consent page cannot be framed).
func TestAuthorizeAnswersLeakNoReferrerAndCannotBeFramed(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()

	consentResp, page := do(t, b, "GET", g.URL+"/auth/authorize?"+authzRequest("web", webCB, v).Encode(), "")
	if consentResp.StatusCode != http.StatusOK {
		t.Fatalf("consent page = %d", consentResp.StatusCode)
	}
	code := consent(t, g, b, page, "allow")
	errResp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+func() string {
		q := authzRequest("web", webCB, v)
		q.Set("code_challenge_method", "plain")
		return q.Encode()
	}(), "")
	badURI := authzRequest("web", webCB+"x", v)
	badPage, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+badURI.Encode(), "")

	for name, resp := range map[string]*http.Response{
		"consent page": consentResp, "code redirect": code, "error redirect": errResp, "bad redirect_uri page": badPage,
	} {
		if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s (%d): Referrer-Policy %q, want no-referrer", name, resp.StatusCode, got)
		}
		if got := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK && !strings.Contains(got, "no-store") {
			t.Errorf("%s (%d): Cache-Control %q, want no-store", name, resp.StatusCode, got)
		}
	}
	if redirected(t, code, webCB).Get("code") == "" {
		t.Fatal("consent gave no code")
	}
	if consentResp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(consentResp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("consent page X-Frame-Options %q CSP %q, want DENY and frame-ancestors 'none'",
			consentResp.Header.Get("X-Frame-Options"), consentResp.Header.Get("Content-Security-Policy"))
	}
}

// TestLoopbackPortRuleIsNarrow: RFC 8252 §7.3's any-port rule applies to a
// public client's registered http://127.0.0.1 URI only: the path, scheme
// and host still match exactly, and nothing else gets it (RFC 9700
// §4.1.3). A refusal is a 400 page, never a redirect (§4.11).
func TestLoopbackPortRuleIsNarrow(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	for _, tt := range []struct {
		redirect string
		ok       bool
	}{
		{"http://127.0.0.1/native", true},
		{"http://127.0.0.1:51004/native", true},
		{"http://127.0.0.1:51004/native/x", false},
		{"http://127.0.0.1:51004/Native", false},
		{"http://127.0.0.1:51004/native?x=1", false},
		{"https://127.0.0.1:51004/native", false},
		{"http://localhost:51004/native", false},
		{"http://[::1]:51004/native", false}, // not registered
		{"http://127.0.0.1.evil.example/native", false},
		{"http://127.0.0.1:51004@evil.example/native", false},
		{"http://127.0.0.1:/native", false},
		{"http://127.0.0.1:51004/native#f", false},
		{"https://spa.example.com:8443/cb", false}, // the port rule is for loopback only
	} {
		t.Run(tt.redirect, func(t *testing.T) {
			resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+authzRequest("spa", tt.redirect, v).Encode(), "")
			if tt.ok {
				if redirected(t, resp, tt.redirect+"?").Get("code") == "" {
					t.Fatal("no code")
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("= %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestMaxAgeIsHonouredWithAuthTime: OIDC Core §3.1.2.1 max_age on the
// server's clock: an older session is refused with prompt=none
// (login_required) and sent to /login otherwise; the ID token's auth_time
// is when the user signed in.
func TestMaxAgeIsHonouredWithAuthTime(t *testing.T) {
	clock := testutil.NewClock()
	g := startApps(t, testutil.WithClock(clock))
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	signedIn := clock.Now().Unix()
	clock.Advance(2 * time.Minute)
	v := oauth2.GenerateVerifier()
	req := func(maxAge, prompt string) url.Values {
		q := authzRequest("other", webCB, v)
		q.Set("max_age", maxAge)
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return q
	}
	idToken := func(resp *http.Response) map[string]any {
		t.Helper()
		code := redirected(t, resp, webCB).Get("code")
		r, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB},
			"code_verifier": {v}}, "other", otherSec)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("exchange = %d %v", r.StatusCode, m)
		}
		return jwtPart(t, m["id_token"].(string), 1)
	}

	resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+req("600", "").Encode(), "")
	if at := idToken(resp)["auth_time"]; at != float64(signedIn) {
		t.Errorf("auth_time within max_age = %v, want the sign-in time %d", at, signedIn)
	}

	resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+req("60", "none").Encode(), "")
	if q := redirected(t, resp, webCB); q.Get("error") != "login_required" || q.Get("iss") != g.URL || q.Get("state") != "st" {
		t.Fatalf("max_age=60 after 2 minutes with prompt=none = %v, want login_required with iss and state", q)
	}

	resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+req("60", "").Encode(), "")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" {
		t.Fatalf("max_age=60 after 2 minutes = %d %q, want /login", resp.StatusCode, loc)
	}
	resp, _ = loginForm(t, b, g.URL, "alice", strongPassword, loc.Query().Get("next"))
	resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
	if at := idToken(resp)["auth_time"]; at != float64(clock.Now().Unix()) {
		t.Errorf("auth_time after the new sign-in = %v, want %d", at, clock.Now().Unix())
	}
}

// TestPublicClientRefreshRotationAndReuse: RFC 9700 §4.14.2 for a public
// client of the code flow: every refresh rotates, a reused refresh token
// revokes the whole family (the newest refresh token and the access
// tokens), and only the client it was issued to may use it.
func TestPublicClientRefreshRotationAndReuse(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	const cb = "https://spa.example.com/cb"
	code := codeFor(t, g, b, "spa", cb, v, "profile")
	resp, first := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cb},
		"code_verifier": {v}, "client_id": {"spa"}}, "", "")
	rt1, _ := first["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || rt1 == "" {
		t.Fatalf("exchange = %d %v, want a refresh token", resp.StatusCode, first)
	}
	refresh := func(rt string, clientID ...string) (*http.Response, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if len(clientID) > 0 {
			f.Set("client_id", clientID[0])
		}
		return tokenCall(t, g, f, "", "")
	}
	// Bound to the client: without client_id (the built-in client) or as
	// another client it is refused.
	if resp, m := refresh(rt1); resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh without client_id = %d %v, want invalid_grant", resp.StatusCode, m)
	}
	if resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "other", otherSec); resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh by another client = %d %v, want invalid_grant", resp.StatusCode, m)
	}

	resp, second := refresh(rt1, "spa")
	rt2, _ := second["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh = %d %v, want a new refresh token", resp.StatusCode, second)
	}
	if resp, m := refresh(rt1, "spa"); resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token = %d %v, want invalid_grant", resp.StatusCode, m)
	}
	if resp, m := refresh(rt2, "spa"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("newest refresh token after the reuse = %d %v, want invalid_grant", resp.StatusCode, m)
	}
	if st := userinfoStatus(t, g, second["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("access token of the revoked family = %d, want 401", st)
	}
}

// TestIDTokenIsNotAnAccessToken: RFC 9700 §4.10 / OIDC Core §16.11: an ID
// token is signed with the same keys, but its typ is not at+jwt; even when
// its aud (the client_id) is an audience the gateway accepts it is refused
// as a bearer token, at the gateway and at userinfo.
func TestIDTokenIsNotAnAccessToken(t *testing.T) {
	up := newUpstream(t)
	g := startApps(t, testutil.WithConfig(func(c *config.Config) {
		c.Tokens.Audience = []string{"other"} // the client_id: the ID token's aud
		c.Routes = []config.Route{{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL,
			Auth: "token", Timeout: config.Duration(5 * time.Second)}}
	}))
	g.CreateUser(t, "alice", strongPassword, "user")
	b := browser(t, g, "alice")
	m := exchangeCode(t, g, b, "other", otherSec, webCB, "openid")
	if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+m["access_token"].(string)); resp.StatusCode != http.StatusOK {
		t.Fatalf("access token at the gateway = %d, want 200 (the control)", resp.StatusCode)
	}
	idt := m["id_token"].(string)
	if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+idt); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ID token at the gateway = %d, want 401", resp.StatusCode)
	}
	if st := userinfoStatus(t, g, idt); st != http.StatusUnauthorized {
		t.Errorf("ID token at userinfo = %d, want 401", st)
	}
}

// TestOverlongAuthorizationRequestIsRefused: an authorization request
// longer than /login can carry back (2048 bytes) is refused with
// invalid_request at the client's redirect URI, signed in or not, and
// nothing of it is stored; it used to be taken from a signed-in browser
// (state echoed and nonce stored at any length) and, without a session,
// lost at /login, which sent the user to "/" instead of back.
func TestOverlongAuthorizationRequestIsRefused(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	long := strings.Repeat("a", 3000)
	with := func(k, val string) url.Values {
		q := authzRequest("other", webCB, v)
		q.Set(k, val)
		return q
	}
	for _, tt := range []struct {
		name string
		b    *http.Client
		q    url.Values
	}{
		{"state", b, with("state", long)},
		{"nonce", b, with("nonce", long)},
		{"scope", b, with("scope", strings.Repeat("openid ", 500))},
		{"state and nonce, without a session", testutil.Client(t), func() url.Values {
			q := with("state", strings.Repeat("s", 1000))
			q.Set("nonce", strings.Repeat("n", 1000))
			return q
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := do(t, tt.b, "GET", g.URL+"/auth/authorize?"+tt.q.Encode(), "")
			q := redirected(t, resp, webCB+"?")
			if q.Get("error") != "invalid_request" || !strings.Contains(q.Get("error_description"), "too long") ||
				q.Get("code") != "" || q.Get("iss") != g.URL || q.Get("state") != tt.q.Get("state") {
				t.Fatalf("= error %q (%q) code %q iss %q, state of %d bytes; want invalid_request (too long) with iss and the state",
					q.Get("error"), q.Get("error_description"), q.Get("code"), q.Get("iss"), len(q.Get("state")))
			}
		})
	}
	t.Run("redirect_uri", func(t *testing.T) {
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+authzRequest("other", webCB+"?"+long, v).Encode(), "")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("= %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestRevocationOnlyByTheTokensClient: RFC 7009 §2.1 — a client revokes
// only its own tokens; another client, or a caller without the secret of
// the confidential client, gets 200 and changes nothing. A public
// client's token is revoked by whoever holds it.
func TestRevocationOnlyByTheTokensClient(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	revoke := func(tok, user, pass string, form ...string) {
		t.Helper()
		f := url.Values{"token": {tok}}
		for i := 0; i+1 < len(form); i += 2 {
			f.Set(form[i], form[i+1])
		}
		req, _ := http.NewRequest("POST", g.URL+"/auth/revoke", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke = %d, want 200", resp.StatusCode)
		}
	}
	m := exchangeCode(t, g, b, "other", otherSec, webCB, "openid offline_access")
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	revoke(at, "web", webSecret)
	revoke(rt, "web", webSecret)
	revoke(at, "", "")
	revoke(rt, "", "", "client_id", "spa")
	if st := userinfoStatus(t, g, at); st != http.StatusOK {
		t.Errorf("access token after revocations by others = %d, want 200", st)
	}
	resp, next := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "other", otherSec)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh after revocations by others = %d %v, want 200", resp.StatusCode, next)
	}
	revoke(next["refresh_token"].(string), "other", otherSec)
	if st := userinfoStatus(t, g, next["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("access token after its client revoked the family = %d, want 401", st)
	}

	// A public client's token: holding it is the proof.
	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "spa", "https://spa.example.com/cb", v, "profile")
	resp, pub := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {"https://spa.example.com/cb"}, "code_verifier": {v}, "client_id": {"spa"}}, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("public exchange = %d %v", resp.StatusCode, pub)
	}
	revoke(pub["refresh_token"].(string), "", "")
	if st := userinfoStatus(t, g, pub["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("public client's access token after its refresh token was revoked = %d, want 401", st)
	}
}

// TestStateReturnedExactlyThroughLogin: RFC 9700 §4.7 — the client's
// state comes back byte for byte, also after the detour through /login.
func TestStateReturnedExactlyThroughLogin(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	const state = "a b+c&d=e/%2F?#é\"<x>"
	q := authzRequest("other", webCB, oauth2.GenerateVerifier())
	q.Set("state", state)
	c := testutil.Client(t)
	resp, _ := do(t, c, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Path != "/login" {
		t.Fatalf("without a session = %d %q, want /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = loginForm(t, c, g.URL, "alice", strongPassword, loc.Query().Get("next"))
	resp, _ = do(t, c, "GET", g.URL+resp.Header.Get("Location"), "")
	if got := redirected(t, resp, webCB+"?"); got.Get("state") != state || got.Get("code") == "" {
		t.Fatalf("state = %q code %q, want %q and a code", got.Get("state"), got.Get("code"), state)
	}
}
