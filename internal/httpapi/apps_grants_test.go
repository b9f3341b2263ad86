package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const (
	nativeCB   = "http://127.0.0.1/cb"
	thirdCB    = "https://third.example.com/cb"
	thirdSec   = "thd-secret-0123456789abcdefghijklmnopqrstuv"
	scriptSec  = "scr-secret-0123456789abcdefghijklmnopqrstuv"
	offlineOID = "openid offline_access"
)

// grantsInstance runs gatehouse with a settable clock and: a first-party
// native app (public, refresh tokens), a third-party confidential app, and
// a first-party confidential script that may use the password grant.
func grantsInstance(t *testing.T, edit ...func(*config.Config)) *testutil.Instance {
	t.Helper()
	return mfaInstance(t, append([]func(*config.Config){func(c *config.Config) {
		c.Clients = []config.Client{
			{ID: "native", Type: "public", FirstParty: true, RedirectURIs: []string{nativeCB},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}},
			{ID: "third", Name: "Third party", Type: "confidential", Secret: thirdSec, RedirectURIs: []string{thirdCB},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}},
			{ID: "script", Type: "confidential", Secret: scriptSec, FirstParty: true,
				GrantTypes: []string{"refresh_token", "password"}, Scopes: []string{"openid", "offline_access"}},
		}
	}}, edit...)...)
}

// codeTokens runs the code flow for clientID in browser b and exchanges
// the code (client_secret_basic when secret is set).
func codeTokens(t *testing.T, g *testutil.Instance, b *http.Client, clientID, secret, redirect string) (access, refresh string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, clientID, redirect, verifier, offlineOID)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	user := ""
	if secret == "" {
		form.Set("client_id", clientID)
	} else {
		user = clientID
	}
	resp, m := tokenCall(t, g, form, user, secret)
	access, _ = m["access_token"].(string)
	refresh, _ = m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || access == "" || refresh == "" {
		t.Fatalf("code exchange for %s = %d %v, want access and refresh tokens", clientID, resp.StatusCode, m)
	}
	return access, refresh
}

// refreshCall redeems a refresh token for clientID and returns the status
// and the new token pair (empty on refusal).
func refreshCall(t *testing.T, g *testutil.Instance, clientID, secret, rt string) (int, string, string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	user := ""
	if clientID == "gatehouse" { // the built-in client: no client_id
	} else if secret == "" {
		form.Set("client_id", clientID)
	} else {
		user = clientID
	}
	resp, m := tokenCall(t, g, form, user, secret)
	at, _ := m["access_token"].(string)
	next, _ := m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK && m["error"] != "invalid_grant" {
		t.Fatalf("refresh = %d %v, want 200 or invalid_grant", resp.StatusCode, m)
	}
	return resp.StatusCode, at, next
}

// userinfoStatus is the status of GET /auth/userinfo with access token at.
func userinfoStatus(t *testing.T, g *testutil.Instance, at string) int {
	t.Helper()
	resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/auth/userinfo", "", "Authorization", "Bearer "+at)
	return resp.StatusCode
}

// grantsOf returns the "grants" of GET /auth/sessions for browser b.
func grantsOf(t *testing.T, g *testutil.Instance, b *http.Client) []map[string]any {
	t.Helper()
	resp, body := do(t, b, "GET", g.URL+"/auth/sessions", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/sessions = %d %s", resp.StatusCode, body)
	}
	list, ok := decode(t, body)["grants"].([]any)
	if !ok {
		t.Fatalf("GET /auth/sessions has no grants array: %s", body)
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// A code-flow access token carries the session's amr, and so does every
// token refreshed from it: an mfa route lets in the one from a session with
// a second factor and refuses the password-only one (RFC 9470).
func TestCodeFlowTokensKeepSessionAMR(t *testing.T) {
	up := newUpstream(t)
	g := grantsInstance(t, func(c *config.Config) {
		c.Routes = []config.Route{{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: up.URL, Auth: "any", MFA: true}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	alice, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, alice, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	tests := []struct {
		name string
		b    *http.Client
		want int
	}{
		{"session with a second factor", alice, http.StatusOK},
		{"password-only session", browser(t, g, "bob"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, rt := codeTokens(t, g, tt.b, "native", "", nativeCB)
			check := func(what, token string) {
				t.Helper()
				resp, body := do(t, testutil.Client(t), "GET", g.URL+"/admin/x", "", "Authorization", "Bearer "+token)
				if resp.StatusCode != tt.want {
					t.Fatalf("%s on the mfa route = %d %s, want %d", what, resp.StatusCode, body, tt.want)
				}
				if tt.want == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_user_authentication"`) {
					t.Fatalf("%s: WWW-Authenticate = %q, want insufficient_user_authentication", what, resp.Header.Get("WWW-Authenticate"))
				}
			}
			check("code-flow access token", at)
			g.Clock.Advance(time.Minute)
			status, at2, _ := refreshCall(t, g, "native", "", rt)
			if status != http.StatusOK {
				t.Fatalf("refresh = %d", status)
			}
			check("refreshed access token", at2)
		})
	}
}

// Grants that no browser session holds — the password grant's, an app's
// whose browser session expired — are listed in /auth/sessions and on
// /account, and the user can revoke them: refresh and access tokens stop.
func TestGrantsWithoutBrowserSession(t *testing.T) {
	g := grantsInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)

	// A native app signs in through a browser session that then expires
	// (the app keeps refreshing), and a script uses the password grant.
	old := browser(t, g, "alice")
	_, nativeRT := codeTokens(t, g, old, "native", "", nativeCB)
	g.Clock.Advance(31 * time.Minute) // past the session idle timeout
	_, nativeRT, _ = func() (int, string, string) {
		status, at, rt := refreshCall(t, g, "native", "", nativeRT)
		if status != http.StatusOK {
			t.Fatalf("native refresh after the session expired = %d", status)
		}
		return status, at, rt
	}()
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}, "", "")
	scriptAT, scriptRT := m["access_token"].(string), m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || scriptRT == "" {
		t.Fatalf("password grant = %d %v", resp.StatusCode, m)
	}

	// A live session's own app grant is shown with that session, not here.
	b := browser(t, g, "alice")
	codeTokens(t, g, b, "native", "", nativeCB)

	grants := grantsOf(t, g, b)
	byClient := map[string]map[string]any{}
	for _, gr := range grants {
		byClient[gr["client_id"].(string)] = gr
	}
	if len(grants) != 2 || byClient["native"] == nil || byClient["gatehouse"] == nil {
		t.Fatalf("grants = %v, want the expired session's native app and the password grant", grants)
	}
	script, native := byClient["gatehouse"], byClient["native"]
	if script["ip"] != "127.0.0.1" || len(anyStrings(script["amr"])) != 0 || script["created_at"] == "" {
		t.Errorf("password grant entry = %v, want ip 127.0.0.1, amr [] (only code-flow tokens carry amr), created_at", script)
	}
	if got := anyStrings(native["amr"]); !slices.Equal(got, []string{"pwd"}) {
		t.Errorf("native grant amr = %v, want [pwd] (its session's)", got)
	}
	if native["last_used_at"] == native["created_at"] {
		t.Errorf("native grant = %v, want last_used_at at its refresh, after created_at", native)
	}
	_, page := do(t, b, "GET", g.URL+"/account", "")
	for _, gr := range grants {
		if !strings.Contains(page, `action="/auth/grants/`+gr["id"].(string)+`/revoke"`) {
			t.Errorf("/account lacks the revoke form of grant %v:\n%s", gr["client_id"], page)
		}
	}

	// Another user cannot revoke it, nor tell it from an unknown one.
	for _, id := range []string{script["id"].(string), "no-such-grant"} {
		if resp, body := do(t, browser(t, g, "bob"), "DELETE", g.URL+"/auth/grants/"+id, ""); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob revoking %s = %d %s, want 404", id, resp.StatusCode, body)
		}
	}
	if userinfoStatus(t, g, scriptAT) != http.StatusOK {
		t.Fatal("bob's attempt revoked alice's grant")
	}

	// The owner revokes both: the form on /account, the API.
	resp, _ = do(t, b, "POST", g.URL+"/auth/grants/"+native["id"].(string)+"/revoke", "",
		"Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("revoke form = %d %q, want 303 to /account", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := do(t, b, "DELETE", g.URL+"/auth/grants/"+script["id"].(string), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /auth/grants/{id} = %d %s, want 204", resp.StatusCode, body)
	}
	if status, _, _ := refreshCall(t, g, "native", "", nativeRT); status != http.StatusBadRequest {
		t.Errorf("native refresh after revocation = %d, want 400 invalid_grant", status)
	}
	if userinfoStatus(t, g, scriptAT) != http.StatusUnauthorized {
		t.Error("the revoked grant's access token still works")
	}
	if got := grantsOf(t, g, b); len(got) != 0 {
		t.Errorf("grants after revoking = %v, want none", got)
	}
}

// Withdrawing consent on /account revokes every token the app holds for
// the user — also those that no browser session holds any more — and no
// other app's.
func TestWithdrawConsentRevokesEveryGrantOfTheApp(t *testing.T) {
	g := grantsInstance(t)
	g.CreateUser(t, "alice", strongPassword)

	// A grant that outlived its browser session: the session expires, the
	// app keeps refreshing.
	old := browser(t, g, "alice")
	_, oldRT := codeTokens(t, g, old, "third", thirdSec, thirdCB) // consent given here
	g.Clock.Advance(31 * time.Minute)                             // past the session idle timeout
	status, lostAT, lostRT := refreshCall(t, g, "third", thirdSec, oldRT)
	if status != http.StatusOK {
		t.Fatalf("refresh after the session expired = %d", status)
	}

	b := browser(t, g, "alice")
	codeAT, codeRT := codeTokens(t, g, b, "third", thirdSec, thirdCB)
	otherAT, otherRT := codeTokens(t, g, b, "native", "", nativeCB)

	resp, _ := do(t, b, "POST", g.URL+"/auth/consents/third/revoke", "",
		"Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw consent = %d, want 303", resp.StatusCode)
	}
	for _, tc := range []struct {
		name   string
		at, rt string
	}{{"code flow in the session", codeAT, codeRT}, {"session expired, no session", lostAT, lostRT}} {
		if status, _, _ := refreshCall(t, g, "third", thirdSec, tc.rt); status != http.StatusBadRequest {
			t.Errorf("%s: refresh after withdrawal = %d, want 400 invalid_grant", tc.name, status)
		}
		if userinfoStatus(t, g, tc.at) != http.StatusUnauthorized {
			t.Errorf("%s: access token still works after withdrawal", tc.name)
		}
	}
	if userinfoStatus(t, g, otherAT) != http.StatusOK {
		t.Error("another app's access token stopped")
	}
	if status, _, _ := refreshCall(t, g, "native", "", otherRT); status != http.StatusOK {
		t.Error("another app's refresh token stopped")
	}
}

// Browsers apply form-action to the redirect that answers the consent form:
// for an app with a registered http://127.0.0.1 redirect URI (RFC 8252, any
// port) the consent page allows that one origin, and only it; for a native
// app's private-use scheme (RFC 8252 §7.1) that scheme; an https app needs
// nothing added. The page also says where the answer goes: a private-use
// scheme URI has no host, and the sentence must not end in "to ."
func TestConsentPageFormActionAllowsTheRedirect(t *testing.T) {
	g := grantsInstance(t, func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.Client{ID: "cli", Type: "public", RedirectURIs: []string{"http://127.0.0.1/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}},
			config.Client{ID: "mobile", Type: "public", RedirectURIs: []string{"com.example.app:/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	})
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	tests := []struct{ clientID, redirect, formAction, sentence string }{
		{"cli", "http://127.0.0.1:54321/cb", "form-action 'self' https: http://127.0.0.1:54321;", "will be sent back to 127.0.0.1:54321."},
		{"mobile", "com.example.app:/cb", "form-action 'self' https: com.example.app:;", "will be sent back to com.example.app:/cb."},
		{"third", thirdCB, "form-action 'self' https:;", "will be sent back to " + mustHost(t, thirdCB) + "."},
	}
	for _, tt := range tests {
		t.Run(tt.clientID, func(t *testing.T) {
			resp, body := do(t, b, "GET", g.URL+"/auth/authorize?"+url.Values{
				"response_type": {"code"}, "client_id": {tt.clientID}, "redirect_uri": {tt.redirect}, "scope": {"openid"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			}.Encode(), "")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "consent_token") {
				t.Fatalf("authorize = %d, want the consent page:\n%s", resp.StatusCode, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tt.formAction) {
				t.Errorf("CSP = %q, want %q", csp, tt.formAction)
			}
			if got := text(parsePage(t, body)); !strings.Contains(got, tt.sentence) {
				t.Errorf("page says %q, want %q", got, tt.sentence)
			}
		})
	}
}

// The password grant follows the code flow's rule for refresh tokens
// (contract §8): issued when the client has the refresh_token grant and,
// for an openid request, offline_access was granted.
func TestPasswordGrantRefreshTokenFollowsOfflineAccess(t *testing.T) {
	g := grantsInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	for _, tt := range []struct {
		scope       string
		wantRefresh bool
	}{
		{"", true},
		{"offline_access", true},
		{"openid", false},
		{"openid offline_access", true},
	} {
		t.Run("scope="+tt.scope, func(t *testing.T) {
			form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			resp, m := tokenCall(t, g, form, "script", scriptSec)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("password grant = %d %v", resp.StatusCode, m)
			}
			if _, got := m["refresh_token"]; got != tt.wantRefresh {
				t.Errorf("refresh_token present = %v, want %v (granted scope %q)", got, tt.wantRefresh, m["scope"])
			}
		})
	}
}

// The password grant is for first-party clients only (contract §4): a
// third-party app is one users must consent to, and the password grant
// would hand it their password and tokens without that consent. A client
// stored with it before registration refused the combination gets
// unauthorized_client; the first-party script gets its tokens.
func TestPasswordGrantRefusedToThirdPartyClients(t *testing.T) {
	g := grantsInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	legacy := client.Client{ID: "legacy", Type: client.Confidential, SecretHash: client.HashSecret(thirdSec),
		GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "offline_access"}}
	if err := g.App.Store.CreateClient(t.Context(), legacy); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}, "scope": {"offline_access"}}
	for _, tt := range []struct {
		clientID, secret string
		status           int
		code             string
	}{
		{"legacy", thirdSec, http.StatusBadRequest, "unauthorized_client"},
		{"script", scriptSec, http.StatusOK, ""},
	} {
		t.Run(tt.clientID, func(t *testing.T) {
			resp, m := tokenCall(t, g, form, tt.clientID, tt.secret)
			if resp.StatusCode != tt.status || tt.code != "" && m["error"] != tt.code || tt.code == "" && m["access_token"] == nil {
				t.Fatalf("password grant for %s = %d %v, want %d %s", tt.clientID, resp.StatusCode, m, tt.status, tt.code)
			}
		})
	}
}
