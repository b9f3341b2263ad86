package httpapi_test

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const (
	webSecret = "web-secret-0123456789abcdefghijklmnopqrstuv"
	svcSecret = "svc-secret-0123456789abcdefghijklmnopqrstuv"
	otherSec  = "oth-secret-0123456789abcdefghijklmnopqrstuv"
	webCB     = "https://rp.example.com/cb"
)

// startApps runs gatehouse with the clients of the tests: a confidential
// third-party web app (consent), a first-party public SPA/native app, a
// service, and a second confidential app for cross-client attacks.
func startApps(t *testing.T, opts ...testutil.Option) *testutil.Instance {
	t.Helper()
	return testutil.Start(t, append([]testutil.Option{testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{
			{ID: "web", Name: "Orders web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
				GrantTypes: []string{"authorization_code", "refresh_token"},
				Scopes:     []string{"openid", "profile", "email", "offline_access", "orders:read"}},
			{ID: "spa", Type: "public", FirstParty: true, RedirectURIs: []string{"https://spa.example.com/cb", "http://127.0.0.1/native"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}},
			{ID: "svc", Type: "confidential", Secret: svcSecret, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"orders:read"}, Roles: []string{"orders-reader"}},
			{ID: "other", Type: "confidential", Secret: otherSec, RedirectURIs: []string{webCB},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}, FirstParty: true},
		}
	})}, opts...)...)
}

// browser returns a cookie-carrying client signed in as user.
func browser(t *testing.T, g *testutil.Instance, user string) *http.Client {
	t.Helper()
	b := testutil.Client(t)
	resp, body := loginJSON(t, b, g.URL, user, strongPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	return b
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// consent answers the consent page body with decision, as the browser
// would (same origin).
func consent(t *testing.T, g *testutil.Instance, b *http.Client, page, decision string) *http.Response {
	t.Helper()
	form := url.Values{"decision": {decision}}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if form.Get("consent_token") == "" {
		t.Fatalf("no consent form in page:\n%s", page)
	}
	resp, _ := do(t, b, "POST", g.URL+"/auth/authorize", form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL, "Sec-Fetch-Site", "same-origin")
	return resp
}

// redirected parses the Location of a redirect back to the client.
func redirected(t *testing.T, resp *http.Response, prefix string) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	if (resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther) || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("= %d Location %q, want a redirect to %s", resp.StatusCode, loc, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// The "done when": a standard RP library (go-oidc + x/oauth2)
// discovers gatehouse, runs code + PKCE through login and consent,
// verifies the ID token, reads userinfo, refreshes and revokes.
func TestOIDCCodeFlowWithRealRP(t *testing.T) {
	g := startApps(t)
	u := g.CreateUser(t, "alice", strongPassword, "user")
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := oauth2.Config{ClientID: "web", ClientSecret: webSecret, Endpoint: provider.Endpoint(), RedirectURL: webCB,
		Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, "orders:read"}}
	verifier, nonce, state := oauth2.GenerateVerifier(), "n-"+oauth2.GenerateVerifier()[:16], "st-1"
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))

	// Without a session: to /login and back to this very request.
	b := testutil.Client(t)
	resp, _ := do(t, b, "GET", authURL, "")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" || !strings.HasPrefix(loc.Query().Get("next"), "/auth/authorize?") {
		t.Fatalf("no session = %d %q, want 303 to /login?next=/auth/authorize…", resp.StatusCode, loc)
	}
	resp, _ = loginForm(t, b, g.URL, "alice", strongPassword, loc.Query().Get("next"))
	resp, page := do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Orders web") {
		t.Fatalf("after login = %d, want the consent page:\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("consent page CSP = %q", csp)
	}
	q := redirected(t, consent(t, g, b, page, "allow"), webCB)
	if q.Get("state") != state || q.Get("iss") != g.URL || q.Get("code") == "" {
		t.Fatalf("authorization response = %v, want code, state and iss (RFC 9207)", q)
	}

	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject != u.ID {
		t.Errorf("ID token nonce %q sub %q, want %q %q", idt.Nonce, idt.Subject, nonce, u.ID)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		AMR      []string `json:"amr"`
		SID      string   `json:"sid"`
		AZP      string   `json:"azp"`
		AuthTime int64    `json:"auth_time"`
		Username string   `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil || len(claims.AMR) == 0 || claims.SID == "" || claims.AZP != "web" ||
		claims.AuthTime == 0 || claims.Username != "alice" {
		t.Errorf("ID token claims = %+v, %v", claims, err)
	}
	at := jwtPart(t, tok.AccessToken, 1)
	if at["client_id"] != "web" || at["scope"] != "openid profile offline_access orders:read" {
		t.Errorf("access token client_id %v scope %v", at["client_id"], at["scope"])
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token although offline_access was granted")
	}

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != u.ID {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}
	var infoClaims map[string]any
	_ = info.Claims(&infoClaims)
	if infoClaims["preferred_username"] != "alice" {
		t.Errorf("userinfo claims = %v, want preferred_username by scope profile", infoClaims)
	}

	// Second visit: consent is remembered, the browser goes straight back.
	resp, _ = do(t, b, "GET", conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)), "")
	if q := redirected(t, resp, webCB); q.Get("code") == "" || q.Get("state") != "st-2" {
		t.Errorf("second authorization = %v", q)
	}

	// Refresh through the library, then revoke with client authentication.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := conf.TokenSource(ctx, &expired).Token()
	if err != nil || fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh = %v, %v", fresh, err)
	}
	req, _ := http.NewRequest("POST", g.URL+"/auth/revoke", strings.NewReader(url.Values{"token": {fresh.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", webSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %v, %v", resp, err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: expired.Expiry}).Token(); err == nil {
		t.Fatal("revoked refresh token still refreshes")
	}
	if resp, _ := userinfo(t, g, fresh.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("access token of a revoked family = %d, want 401", resp.StatusCode)
	}
	g.AssertLogsDoNotContain(t, webSecret, tok.AccessToken, tok.RefreshToken, raw, q.Get("code"))
}

func TestClientCredentialsWithRealLibrary(t *testing.T) {
	g := startApps(t)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: g.URL + "/auth/token", Scopes: []string{"orders:read"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	c := jwtPart(t, tok.AccessToken, 1)
	if c["sub"] != "svc" || c["client_id"] != "svc" || c["scope"] != "orders:read" || len(c["roles"].([]any)) != 1 || tok.RefreshToken != "" {
		t.Errorf("client credentials token = %v refresh %q", c, tok.RefreshToken)
	}
	if resp, _ := userinfo(t, g, tok.AccessToken); resp.StatusCode != http.StatusOK {
		t.Errorf("service token at a protected endpoint = %d", resp.StatusCode)
	}
	for name, bad := range map[string]clientcredentials.Config{
		"wrong secret":      {ClientID: "svc", ClientSecret: svcSecret + "x", TokenURL: cc.TokenURL},
		"disallowed scope":  {ClientID: "svc", ClientSecret: svcSecret, TokenURL: cc.TokenURL, Scopes: []string{"admin"}},
		"grant not allowed": {ClientID: "web", ClientSecret: webSecret, TokenURL: cc.TokenURL},
	} {
		if _, err := bad.Token(ctx); err == nil {
			t.Errorf("%s: got a token", name)
		}
	}
}

// tokenCall posts form to the token endpoint, with Basic credentials when
// user is set.
func tokenCall(t *testing.T, g *testutil.Instance, form url.Values, user, pass string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	h := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)
	req, _ := http.NewRequest("POST", g.URL+"/auth/token", strings.NewReader(form.Encode()))
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, decode(t, testutil.ReadBody(t, resp))
}

// codeFor runs the authorization request for a first-party client and
// returns the code.
func codeFor(t *testing.T, g *testutil.Instance, b *http.Client, clientID, redirect, verifier, scope string) string {
	t.Helper()
	resp, body := do(t, b, "GET", g.URL+"/auth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"},
	}.Encode(), "")
	if resp.StatusCode == http.StatusOK {
		resp = consent(t, g, b, body, "allow")
	}
	return redirected(t, resp, redirect).Get("code")
}

// exchangeForm is the token request of an authorization code; an empty
// verifier is left out.
func exchangeForm(code, verifier, redirect string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return f
}

func TestTokenEndpointAttacks(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	exchange := exchangeForm
	tests := []struct {
		name       string
		form       func() url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong PKCE verifier", func() url.Values {
			return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), oauth2.GenerateVerifier(), webCB)
		}, "other", otherSec, 400, "invalid_grant"},
		{"missing PKCE verifier", func() url.Values { return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), "", webCB) }, "other", otherSec, 400, "invalid_request"},
		{"code of client A redeemed by client B", func() url.Values { return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), v, webCB) }, "web", webSecret, 400, "invalid_grant"},
		{"other redirect_uri at exchange", func() url.Values { return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), v, webCB+"x") }, "other", otherSec, 400, "invalid_grant"},
		{"wrong client secret", func() url.Values { return exchange("x", v, webCB) }, "other", "wrong", 401, "invalid_client"},
		{"public client sends client_credentials", func() url.Values { return url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}} }, "", "", 400, "unauthorized_client"},
		{"unknown client", func() url.Values { return exchange("x", v, webCB) }, "ghost", "whatever", 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := tokenCall(t, g, tt.form(), tt.user, tt.pass)
			if resp.StatusCode != tt.status || m["error"] != tt.code {
				t.Fatalf("= %d %v, want %d %s", resp.StatusCode, m, tt.status, tt.code)
			}
			if tt.status == 401 && tt.user != "" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 after Basic without WWW-Authenticate: Basic (%q)", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("code replay revokes what the code produced", func(t *testing.T) {
		code := codeFor(t, g, b, "other", webCB, v, "openid offline_access")
		resp, first := tokenCall(t, g, exchange(code, v, webCB), "other", otherSec)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first exchange = %d %v", resp.StatusCode, first)
		}
		resp, m := tokenCall(t, g, exchange(code, v, webCB), "other", otherSec)
		if resp.StatusCode != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("replay = %d %v, want invalid_grant", resp.StatusCode, m)
		}
		if resp, _ := userinfo(t, g, first["access_token"].(string)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("access token of a replayed code = %d, want 401", resp.StatusCode)
		}
		resp, m = tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, "other", otherSec)
		if resp.StatusCode != 400 || m["error"] != "invalid_grant" {
			t.Errorf("refresh token of a replayed code = %d %v", resp.StatusCode, m)
		}
	})

	t.Run("refresh token of client A used by client B", func(t *testing.T) {
		code := codeFor(t, g, b, "other", webCB, v, "openid offline_access")
		_, first := tokenCall(t, g, exchange(code, v, webCB), "other", otherSec)
		rt := first["refresh_token"].(string)
		for _, by := range [][2]string{{"web", webSecret}, {"", ""}} {
			resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, by[0], by[1])
			if resp.StatusCode != 400 || m["error"] != "invalid_grant" {
				t.Errorf("refresh by %q = %d %v, want invalid_grant", by[0], resp.StatusCode, m)
			}
		}
		// Not used up by the attempts: the rightful client still refreshes.
		if resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "other", otherSec); resp.StatusCode != 200 {
			t.Errorf("owner refresh after attacks = %d %v", resp.StatusCode, m)
		}
	})

	t.Run("public client with PKCE and client_id only", func(t *testing.T) {
		redirect := "http://127.0.0.1:49152/native" // RFC 8252: any loopback port
		code := codeFor(t, g, b, "spa", redirect, v, "openid")
		f := exchange(code, v, redirect)
		f.Set("client_id", "spa")
		resp, m := tokenCall(t, g, f, "", "")
		if resp.StatusCode != 200 || m["id_token"] == nil || m["refresh_token"] != nil {
			t.Fatalf("public exchange = %d %v (no offline_access: no refresh token)", resp.StatusCode, m)
		}
	})
}

// TestRefusedCodeIsDescribedAsACode: a code the token endpoint refuses is
// invalid_grant with a description that names the authorization code, not
// the refresh token (whose refusals keep theirs): a developer debugging an
// exchange is not sent looking for a refresh token.
func TestRefusedCodeIsDescribedAsACode(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	exchange := exchangeForm
	const codeRefused = "the authorization code is invalid, expired, used or revoked"
	tests := []struct {
		name       string
		form       func() url.Values
		user, pass string
		descr      string
	}{
		{"unknown code", func() url.Values { return exchange("no-such-code", v, webCB) }, "other", otherSec, codeRefused},
		{"wrong PKCE verifier", func() url.Values {
			return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), oauth2.GenerateVerifier(), webCB)
		}, "other", otherSec, codeRefused},
		{"another client's code", func() url.Values { return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), v, webCB) }, "web", webSecret, codeRefused},
		{"other redirect_uri", func() url.Values { return exchange(codeFor(t, g, b, "other", webCB, v, "openid"), v, webCB+"x") }, "other", otherSec, codeRefused},
		{"replayed code", func() url.Values {
			code := codeFor(t, g, b, "other", webCB, v, "openid")
			if resp, m := tokenCall(t, g, exchange(code, v, webCB), "other", otherSec); resp.StatusCode != http.StatusOK {
				t.Fatalf("first exchange = %d %v", resp.StatusCode, m)
			}
			return exchange(code, v, webCB)
		}, "other", otherSec, codeRefused},
		{"unknown refresh token", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"no-such-token"}}
		}, "other", otherSec, "the refresh token is invalid, expired or revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := tokenCall(t, g, tt.form(), tt.user, tt.pass)
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" || m["error_description"] != tt.descr {
				t.Errorf("= %d %v, want 400 invalid_grant %q", resp.StatusCode, m, tt.descr)
			}
		})
	}
}

func TestAuthorizeAttacks(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	good := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webCB}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "state": {"xyz"}}
	}
	with := func(k, val string) url.Values {
		q := good()
		if val == "\x00" {
			q.Del(k)
		} else {
			q.Set(k, val)
		}
		return q
	}

	// Refused with a 400 page and never a redirect: the redirect URI is
	// not the client's (or the client is unknown).
	for name, q := range map[string]url.Values{
		"prefix":         with("redirect_uri", "https://rp.example.com/c"),
		"suffix":         with("redirect_uri", webCB+"/evil"),
		"path traversal": with("redirect_uri", "https://rp.example.com/cb/../evil"),
		"extra query":    with("redirect_uri", webCB+"?next=evil"),
		"case":           with("redirect_uri", "https://RP.example.com/cb"),
		"userinfo @":     with("redirect_uri", "https://rp.example.com@evil.example/cb"),
		"fragment":       with("redirect_uri", webCB+"#frag"),
		"http vs https":  with("redirect_uri", "http://rp.example.com/cb"),
		"missing":        with("redirect_uri", "\x00"),
		"unknown client": with("client_id", "ghost"),
		"other loopback port, confidential": func() url.Values {
			q := with("client_id", "other")
			q.Set("redirect_uri", "http://127.0.0.1:1234/native")
			return q
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("= %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
			if strings.Contains(body, "evil") {
				t.Errorf("the page echoes the attacker's URI")
			}
		})
	}

	// Refused by a redirect to the verified URI with error, state and iss.
	for name, tc := range map[string]struct {
		q    url.Values
		b    *http.Client
		want string
	}{
		"PKCE plain":          {with("code_challenge_method", "plain"), b, "invalid_request"},
		"PKCE missing":        {with("code_challenge", "\x00"), b, "invalid_request"},
		"PKCE method missing": {with("code_challenge_method", "\x00"), b, "invalid_request"},
		"disallowed scope":    {with("scope", "openid admin"), b, "invalid_scope"},
		"implicit flow":       {with("response_type", "token"), b, "unsupported_response_type"},
		// RFC 6749 §4.1.2.1: a missing required parameter is
		// invalid_request; unsupported_response_type is for a value the
		// server does not support.
		"response_type missing":   {with("response_type", "\x00"), b, "invalid_request"},
		"response_type empty":     {with("response_type", ""), b, "invalid_request"},
		"prompt=none, no session": {with("prompt", "none"), testutil.Client(t), "login_required"},
		"prompt=none, no consent": {with("prompt", "none"), b, "consent_required"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := do(t, tc.b, "GET", g.URL+"/auth/authorize?"+tc.q.Encode(), "")
			q := redirected(t, resp, webCB+"?")
			if q.Get("error") != tc.want || q.Get("state") != "xyz" || q.Get("iss") != g.URL || q.Get("code") != "" {
				t.Fatalf("error response = %v, want error=%s with state and iss", q, tc.want)
			}
		})
	}

	t.Run("consent CSRF", func(t *testing.T) {
		_, page := do(t, b, "GET", g.URL+"/auth/authorize?"+good().Encode(), "")
		form := url.Values{"decision": {"allow"}}
		for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		cross, _ := do(t, b, "POST", g.URL+"/auth/authorize", form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if cross.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin consent POST = %d, want 403", cross.StatusCode)
		}
		form.Set("consent_token", "forged")
		forged, _ := do(t, b, "POST", g.URL+"/auth/authorize", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		if forged.StatusCode != http.StatusForbidden {
			t.Errorf("consent POST with a forged token = %d, want 403", forged.StatusCode)
		}
		// Neither left a consent behind.
		q := with("prompt", "none")
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
		if redirected(t, resp, webCB).Get("error") != "consent_required" {
			t.Errorf("a refused consent POST was remembered")
		}
	})

	t.Run("deny", func(t *testing.T) {
		_, page := do(t, b, "GET", g.URL+"/auth/authorize?"+good().Encode(), "")
		if q := redirected(t, consent(t, g, b, page, "deny"), webCB); q.Get("error") != "access_denied" || q.Get("iss") != g.URL {
			t.Errorf("deny = %v", q)
		}
	})

	t.Run("consent page cannot be framed", func(t *testing.T) {
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+good().Encode(), "")
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("CSP = %q", resp.Header.Get("Content-Security-Policy"))
		}
	})

	t.Run("prompt=login asks again and returns", func(t *testing.T) {
		q := with("client_id", "other")
		q.Set("prompt", "login")
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		next := loc.Query().Get("next")
		if loc.Path != "/login" || strings.Contains(next, "prompt=login") {
			t.Fatalf("prompt=login = %q", loc)
		}
		resp, _ = loginForm(t, b, g.URL, "alice", strongPassword, next)
		resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
		if redirected(t, resp, webCB).Get("code") == "" {
			t.Errorf("after the new login no code")
		}
	})
}

// TestTokenInvalidRequestIsDescribed: every 400 invalid_request of the
// token endpoint says what is missing or malformed, so that a developer
// need not guess which of RFC 6749's rules the request broke.
func TestTokenInvalidRequestIsDescribed(t *testing.T) {
	g := startApps(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("other:"+otherSec))
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		header     []string
		descr      string
	}{
		{"code without code_verifier", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "redirect_uri": {webCB}},
			"other", otherSec, nil, "code and code_verifier are required"},
		{"no code", url.Values{"grant_type": {"authorization_code"}, "code_verifier": {"v"}, "redirect_uri": {webCB}},
			"other", otherSec, nil, "code and code_verifier are required"},
		{"code without redirect_uri", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "code_verifier": {"v"}},
			"other", otherSec, nil, "redirect_uri is required"},
		{"refresh without refresh_token", url.Values{"grant_type": {"refresh_token"}},
			"other", otherSec, nil, "refresh_token is required"},
		{"Basic and a client_secret in the body", url.Values{"grant_type": {"client_credentials"}, "client_secret": {otherSec}},
			"", "", []string{"Authorization", basic}, "two client authentication methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := tokenCall(t, g, tt.form, tt.user, tt.pass, tt.header...)
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" || m["error_description"] != tt.descr {
				t.Errorf("= %d %v, want 400 invalid_request %q", resp.StatusCode, m, tt.descr)
			}
		})
	}
}
