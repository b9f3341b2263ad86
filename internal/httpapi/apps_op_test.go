package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// What a relying party on standard libraries meets at gatehouse's OpenID
// Provider: userinfo for apps with their own audience, claims by scope,
// and the authorization request sent as a form POST.

// exchangeCode runs the code flow for clientID with scope in browser b
// and exchanges the code with client_secret_basic.
func exchangeCode(t *testing.T, g *testutil.Instance, b *http.Client, clientID, secret, redirect, scope string) map[string]any {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, clientID, redirect, verifier, scope)
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"code_verifier": {verifier}}, clientID, secret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange for %s (%s) = %d %v", clientID, scope, resp.StatusCode, m)
	}
	return m
}

// TestUserinfoAcceptsOpenIDTokensOfClientsWithTheirOwnAudience: an app
// whose access tokens carry its own `audience` still reads userinfo with
// them (go-oidc's Provider.UserInfo), as long as the token is an OpenID
// one; its other tokens stay refused there, and the gateway keeps
// accepting only tokens.audience.
func TestUserinfoAcceptsOpenIDTokensOfClientsWithTheirOwnAudience(t *testing.T) {
	up := newUpstream(t)
	g := startApps(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients[0].Audience = []string{"orders-api"} // web
		c.Routes = []config.Route{
			{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL, Auth: "token", Timeout: config.Duration(5 * time.Second)},
			{Name: "jwt-api", Match: config.RouteMatch{PathPrefix: "/jwt/"}, Upstream: up.URL, Auth: "token", Forward: "jwt",
				Timeout: config.Duration(5 * time.Second)},
		}
	}))
	u := g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}

	openid := exchangeCode(t, g, b, "web", webSecret, webCB, "openid orders:read")["access_token"].(string)
	if aud := jwtPart(t, openid, 1)["aud"]; !slices.Equal(anyStrings(aud), []string{"orders-api"}) {
		t.Fatalf("access token aud = %v, want the client's audience", aud)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: openid, TokenType: "Bearer"}))
	if err != nil || info.Subject != u.ID {
		t.Fatalf("go-oidc UserInfo with the app's OpenID token = %+v, %v", info, err)
	}
	resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/userinfo", "", "Authorization", "Bearer "+openid)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST userinfo with the app's OpenID token = %d", resp.StatusCode)
	}

	// Not an OpenID token: refused at userinfo as before.
	plain := exchangeCode(t, g, b, "web", webSecret, webCB, "orders:read")["access_token"].(string)
	resp, _ = userinfo(t, g, plain)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo with the app's non-OpenID token = %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// The gateway's audience check is untouched: neither token passes.
	for name, at := range map[string]string{"OpenID": openid, "plain": plain} {
		if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+at); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("gateway route with the app's %s token (aud orders-api) = %d, want 401", name, resp.StatusCode)
		}
	}

	// The internal JWT a forward: jwt route sends upstream carries the
	// OpenID scope of the token it stands for, but it was issued to no
	// registered client: the upstream cannot read userinfo with it.
	first := exchangeCode(t, g, b, "other", otherSec, webCB, "openid")["access_token"].(string)
	if resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/jwt/x", "", "Authorization", "Bearer "+first); resp.StatusCode != http.StatusOK {
		t.Fatalf("forward: jwt route = %d", resp.StatusCode)
	}
	internal := strings.TrimPrefix(up.seen().Header.Get("Authorization"), "Bearer ")
	if c := jwtPart(t, internal, 1); c["scope"] != "openid" || c["aud"] == nil {
		t.Fatalf("internal JWT claims = %v, want the openid scope", c)
	}
	if resp, _ := userinfo(t, g, internal); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with a forward: jwt route's internal JWT = %d, want 401", resp.StatusCode)
	}

	// Revoked, the OpenID token is refused at userinfo too.
	req, _ := http.NewRequest("POST", g.URL+"/auth/revoke", strings.NewReader(url.Values{"token": {openid}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", webSecret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke = %v, %v", resp, err)
	}
	if resp, _ := userinfo(t, g, openid); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with the revoked OpenID token = %d, want 401", resp.StatusCode)
	}
}

// TestUserinfoClaimsFollowScopes: userinfo answers contract §4's sub,
// username and roles to every valid bearer, and, for an OpenID token, the
// claims its scopes release (§8, OIDC Core §5.4) with the same values as
// the ID token; sessions and tokens that are not OpenID ones get §4's
// fields.
func TestUserinfoClaimsFollowScopes(t *testing.T) {
	g := startApps(t)
	u := g.CreateUser(t, "alice", strongPassword, "user", "orders")
	b := browser(t, g, "alice")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, g.URL)
	if err != nil {
		t.Fatal(err)
	}
	idClaims := func(t *testing.T, raw string) map[string]any {
		t.Helper()
		idt, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := idt.Claims(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	contract := []string{"sub", "username", "roles"}
	for _, tt := range []struct {
		scope string
		want  []string
	}{
		{"openid", nil},
		{"openid orders:read", nil},
		{"openid profile", []string{"name", "preferred_username"}},
		{"openid email", nil}, // no email known for a password account
	} {
		t.Run(tt.scope, func(t *testing.T) {
			m := exchangeCode(t, g, b, "web", webSecret, webCB, tt.scope)
			resp, body := userinfo(t, g, m["access_token"].(string))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("userinfo = %d %s", resp.StatusCode, body)
			}
			info := decode(t, body)
			var got []string
			for k := range info {
				got = append(got, k)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(append(slices.Clone(contract), tt.want...)))
			if !slices.Equal(got, want) {
				t.Fatalf("userinfo claims = %v, want %v", info, want)
			}
			if info["sub"] != u.ID || info["username"] != "alice" || len(anyStrings(info["roles"])) != 2 {
				t.Errorf("userinfo = %v, want sub %s, username alice and both roles", info, u.ID)
			}
			id := idClaims(t, m["id_token"].(string))
			for k, v := range info {
				if k == "username" || k == "roles" {
					continue
				}
				if id[k] != v {
					t.Errorf("userinfo %s = %v, ID token %s = %v: they must agree", k, v, k, id[k])
				}
			}
			for _, k := range []string{"username", "roles"} {
				if _, ok := id[k]; ok {
					t.Errorf("ID token carries %s", k)
				}
			}
		})
	}

	// Not OpenID: contract §4's fields, as before.
	svc := exchangeCode(t, g, b, "web", webSecret, webCB, "orders:read")["access_token"].(string)
	for name, c := range map[string]struct {
		client *http.Client
		header []string
	}{
		"session":          {b, nil},
		"non-OpenID token": {testutil.Client(t), []string{"Authorization", "Bearer " + svc}},
	} {
		resp, body := do(t, c.client, "GET", g.URL+"/auth/userinfo", "", c.header...)
		info := decode(t, body)
		if resp.StatusCode != http.StatusOK || info["sub"] != u.ID || info["username"] != "alice" || len(anyStrings(info["roles"])) != 2 {
			t.Errorf("%s userinfo = %d %s, want sub, username and roles", name, resp.StatusCode, body)
		}
	}
}

// TestAuthorizeByPOST: OIDC Core §3.1.2.1 — the authorization endpoint
// takes the request as a form POST, which a relying party sends cross-site
// by design. gatehouse answers it with 303 to the same request as a GET
// (where the SameSite=Lax session cookie comes along), so the POST never
// issues a code or grants consent by itself; login, consent and refusals
// are the GET's.
func TestAuthorizeByPOST(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	v := oauth2.GenerateVerifier()
	request := func(clientID string) url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {webCB}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "state": {"xyz"},
			"nonce": {"n-1"}}
	}
	crossSite := []string{"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://rp.example.com", "Sec-Fetch-Site", "cross-site"}
	post := func(t *testing.T, b *http.Client, query string, form url.Values) *http.Response {
		t.Helper()
		u := g.URL + "/auth/authorize"
		if query != "" {
			u += "?" + query
		}
		resp, _ := do(t, b, "POST", u, form.Encode(), crossSite...)
		return resp
	}
	// asGET checks that resp sends the browser to the GET of want.
	asGET := func(t *testing.T, resp *http.Response, want url.Values) string {
		t.Helper()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusSeeOther || loc.Path != "/auth/authorize" || loc.Host != "" {
			t.Fatalf("POST authorize = %d Location %q, want 303 to /auth/authorize", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := loc.Query(); got.Encode() != want.Encode() {
			t.Fatalf("GET parameters = %v, want %v", got, want)
		}
		return g.URL + loc.String()
	}

	t.Run("signed in, first-party client: code after the GET", func(t *testing.T) {
		b := browser(t, g, "alice")
		loc := asGET(t, post(t, b, "", request("other")), request("other"))
		resp, _ := do(t, b, "GET", loc, "")
		if q := redirected(t, resp, webCB); q.Get("code") == "" || q.Get("state") != "xyz" || q.Get("iss") != g.URL {
			t.Errorf("authorization response = %v", q)
		}
	})

	t.Run("consent stays on gatehouse's page", func(t *testing.T) {
		b := browser(t, g, "alice")
		loc := asGET(t, post(t, b, "", request("web")), request("web"))
		resp, page := do(t, b, "GET", loc, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Orders web") {
			t.Fatalf("GET = %d, want the consent page", resp.StatusCode)
		}
		// A cross-site POST that says "allow" grants nothing.
		f := request("web")
		f.Set("decision", "allow")
		if resp := post(t, b, "", f); resp.StatusCode != http.StatusSeeOther || strings.HasPrefix(resp.Header.Get("Location"), webCB) {
			t.Errorf("cross-site POST with decision=allow = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := request("web")
		q.Set("prompt", "none")
		resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+q.Encode(), "")
		if redirected(t, resp, webCB).Get("error") != "consent_required" {
			t.Errorf("a POST authorization request left a consent behind")
		}
		// The consent page's own answer still works.
		if q := redirected(t, consent(t, g, b, page, "allow"), webCB); q.Get("code") == "" {
			t.Errorf("consent answer = %v", q)
		}
	})

	t.Run("no session: login returns to the full request", func(t *testing.T) {
		b := testutil.Client(t)
		loc := asGET(t, post(t, b, "", request("other")), request("other"))
		resp, _ := do(t, b, "GET", loc, "")
		login, _ := url.Parse(resp.Header.Get("Location"))
		next, _ := url.Parse(login.Query().Get("next"))
		if resp.StatusCode != http.StatusSeeOther || login.Path != "/login" || next.Query().Get("nonce") != "n-1" ||
			next.Query().Get("code_challenge") != oauth2.S256ChallengeFromVerifier(v) {
			t.Fatalf("GET without a session = %d %q, want /login?next= the whole request", resp.StatusCode, login)
		}
		resp, _ = loginForm(t, b, g.URL, "alice", strongPassword, login.Query().Get("next"))
		resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
		if q := redirected(t, resp, webCB); q.Get("code") == "" {
			t.Errorf("after login = %v, want a code", q)
		}
	})

	t.Run("refusals are the GET's", func(t *testing.T) {
		b := browser(t, g, "alice")
		bad := request("other")
		bad.Set("code_challenge_method", "plain")
		resp, _ := do(t, b, "GET", asGET(t, post(t, b, "", bad), bad), "")
		if q := redirected(t, resp, webCB); q.Get("error") != "invalid_request" || q.Get("state") != "xyz" {
			t.Errorf("plain PKCE by POST = %v", q)
		}
		ghost := request("ghost")
		resp, _ = do(t, b, "GET", asGET(t, post(t, b, "", ghost), ghost), "")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("unknown client by POST = %d %q, want the 400 page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("repeated parameters are refused", func(t *testing.T) {
		b := browser(t, g, "alice")
		for name, tc := range map[string]struct {
			query string
			form  url.Values
			page  bool // 400 page (client_id, redirect_uri) rather than an error redirect
		}{
			"state in query and body":     {"state=abc", request("other"), false},
			"state twice in the body":     {"", func() url.Values { f := request("other"); f.Add("state", "abc"); return f }(), false},
			"client_id in query and body": {"client_id=web", request("other"), true},
		} {
			t.Run(name, func(t *testing.T) {
				resp := post(t, b, tc.query, tc.form)
				if resp.StatusCode == http.StatusSeeOther {
					resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
				}
				if tc.page {
					if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
						t.Fatalf("= %d %q, want the 400 page", resp.StatusCode, resp.Header.Get("Location"))
					}
					return
				}
				if q := redirected(t, resp, webCB); q.Get("error") != "invalid_request" || q.Get("code") != "" {
					t.Fatalf("= %v, want error=invalid_request", q)
				}
			})
		}
	})
}

// TestPromptSelectAccount: OIDC Core §3.1.2.1 defines
// prompt=select_account. gatehouse keeps one session per browser, so it is
// prompt=login: the browser goes through /login (the return URL without
// the prompt, so that it does not loop), and whoever signs in there — also
// another user — gets the code. With none it is refused as every
// combination of none is.
func TestPromptSelectAccount(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	b := browser(t, g, "alice")
	v := oauth2.GenerateVerifier()
	request := func(prompt string) url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"other"}, "redirect_uri": {webCB}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "state": {"xyz"},
			"prompt": {prompt}}
	}

	t.Run("signs in again, as another user", func(t *testing.T) {
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+request("select_account").Encode(), "")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		next := loc.Query().Get("next")
		if resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" || strings.Contains(next, "select_account") {
			t.Fatalf("prompt=select_account = %d %q, want /login?next= the request without the prompt", resp.StatusCode, loc)
		}
		resp, _ = loginForm(t, b, g.URL, "bob", strongPassword, next)
		resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
		code := redirected(t, resp, webCB).Get("code")
		resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB},
			"code_verifier": {v}}, "other", otherSec)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("exchange = %d %v", resp.StatusCode, m)
		}
		if _, body := userinfo(t, g, m["access_token"].(string)); decode(t, body)["username"] != "bob" {
			t.Errorf("userinfo after choosing bob = %s", body)
		}
	})

	t.Run("with login or consent", func(t *testing.T) {
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+request("login select_account consent").Encode(), "")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		next, _ := url.Parse(loc.Query().Get("next"))
		if loc.Path != "/login" || next.Query().Get("prompt") != "consent" {
			t.Fatalf("prompt=login select_account consent = %q, want /login returning with prompt=consent", loc)
		}
	})

	t.Run("discovery lists it", func(t *testing.T) {
		_, body := do(t, testutil.Client(t), "GET", g.URL+"/.well-known/openid-configuration", "")
		if !strings.Contains(body, `"select_account"`) {
			t.Errorf("prompt_values_supported without select_account: %s", body)
		}
	})

	t.Run("with none", func(t *testing.T) {
		resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+request("none select_account").Encode(), "")
		if q := redirected(t, resp, webCB); q.Get("error") != "invalid_request" || q.Get("state") != "xyz" || q.Get("code") != "" {
			t.Errorf("prompt=none select_account = %v, want invalid_request", q)
		}
	})
}

// TestAuthorizeRefusesRepeatedClientIDOrRedirectURI: a repeated client_id
// or redirect_uri is the 400 page, as a missing one is — never a
// redirect to the URI registered for the first value.
func TestAuthorizeRefusesRepeatedClientIDOrRedirectURI(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	base := url.Values{"response_type": {"code"}, "scope": {"openid"}, "state": {"xyz"}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}
	for name, extra := range map[string]string{
		"client_id twice":            "client_id=other&client_id=web&redirect_uri=" + url.QueryEscape(webCB),
		"client_id twice, same":      "client_id=other&client_id=other&redirect_uri=" + url.QueryEscape(webCB),
		"client_id twice, one empty": "client_id=other&client_id=&redirect_uri=" + url.QueryEscape(webCB),
		"redirect_uri twice":         "client_id=other&redirect_uri=" + url.QueryEscape(webCB) + "&redirect_uri=" + url.QueryEscape(webCB),
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := do(t, b, "GET", g.URL+"/auth/authorize?"+base.Encode()+"&"+extra, "")
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("= %d Location %q, want the 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestAuthorizeHonoursIDTokenHint: an id_token_hint names the user the
// relying party expects (OIDC Core §3.1.2.1). A silent request
// (prompt=none) in a browser signed in as someone else is login_required,
// never a code for the other user; an interactive one goes through /login,
// where signing in satisfies it. A hint that is not an ID token gatehouse
// issued is invalid_request; an expired one still names its user.
func TestAuthorizeHonoursIDTokenHint(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	alice, bob := browser(t, g, "alice"), browser(t, g, "bob")
	aliceHint := exchangeCode(t, g, alice, "other", otherSec, webCB, "openid")["id_token"].(string)
	aliceAccess := exchangeCode(t, g, alice, "other", otherSec, webCB, "openid")["access_token"].(string)
	v := oauth2.GenerateVerifier()
	request := func(prompt, hint string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"other"}, "redirect_uri": {webCB}, "scope": {"openid"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"}, "state": {"xyz"},
			"id_token_hint": {hint}}
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return g.URL + "/auth/authorize?" + q.Encode()
	}
	tests := []struct {
		name      string
		b         *http.Client
		prompt    string
		hint      string
		wantError string // "" = a code
	}{
		{"silent, the hinted user signed in", alice, "none", aliceHint, ""},
		{"interactive, the hinted user signed in", alice, "", aliceHint, ""},
		{"silent, another user signed in", bob, "none", aliceHint, "login_required"},
		{"silent, not a JWT", alice, "none", "not-a-token", "invalid_request"},
		{"interactive, an access token", alice, "", aliceAccess, "invalid_request"},
		{"silent, a forged signature", alice, "none", aliceHint[:strings.LastIndex(aliceHint, ".")+1] + "AAAA", "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := do(t, tc.b, "GET", request(tc.prompt, tc.hint), "")
			q := redirected(t, resp, webCB)
			if q.Get("error") != tc.wantError || (tc.wantError == "") != (q.Get("code") != "") || q.Get("state") != "xyz" {
				t.Errorf("= %v, want error %q", q, tc.wantError)
			}
		})
	}

	t.Run("interactive, another user signed in: /login, which satisfies it", func(t *testing.T) {
		b := browser(t, g, "bob")
		resp, _ := do(t, b, "GET", request("", aliceHint), "")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		next := loc.Query().Get("next")
		if resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" || strings.Contains(next, "id_token_hint") {
			t.Fatalf("= %d %q, want /login?next= the request without the hint", resp.StatusCode, loc)
		}
		resp, _ = loginForm(t, b, g.URL, "alice", strongPassword, next)
		resp, _ = do(t, b, "GET", g.URL+resp.Header.Get("Location"), "")
		if q := redirected(t, resp, webCB); q.Get("code") == "" {
			t.Errorf("after signing in as alice = %v, want a code", q)
		}
	})
}
