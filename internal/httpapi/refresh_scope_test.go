package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// refreshScoped redeems rt for the confidential client web, sending scope
// when it is not empty, and returns the status and the answer.
func refreshScoped(t *testing.T, g *testutil.Instance, clientID, secret, rt, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		form.Set("scope", scope)
	}
	user := clientID
	if secret == "" {
		form.Set("client_id", clientID)
		user = ""
	}
	resp, m := tokenCall(t, g, form, user, secret)
	return resp.StatusCode, m
}

// RFC 6749 §6: the scope of a refresh request may narrow the access token
// but never widen the grant; a scope not originally granted is
// invalid_scope (and does not use the refresh token up), an omitted scope
// is the original grant. The family keeps its grant: a refresh without
// scope after a narrower one gets the original scope back.
func TestRefreshScopeNarrowsButNeverWidens(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	const granted = "openid offline_access orders:read"
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, verifier, granted)
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webCB}, "code_verifier": {verifier}}, "web", webSecret)
	rt, _ := m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || rt == "" || m["scope"] != granted {
		t.Fatalf("code exchange = %d %v, want scope %q and a refresh token", resp.StatusCode, m, granted)
	}
	for _, tt := range []struct {
		name, scope string
		status      int
		wantScope   string // or the error code
	}{
		{"a scope the client may have but was not granted", "openid email", http.StatusBadRequest, "invalid_scope"},
		{"a scope the client may not have", "orders:write", http.StatusBadRequest, "invalid_scope"},
		{"narrower", "orders:read", http.StatusOK, "orders:read"},
		{"omitted after narrower: the original grant", "", http.StatusOK, granted},
		{"the original grant, reordered", "orders:read openid offline_access", http.StatusOK, "orders:read openid offline_access"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, m := refreshScoped(t, g, "web", webSecret, rt, tt.scope)
			if status != tt.status {
				t.Fatalf("refresh with scope %q = %d %v, want %d", tt.scope, status, m, tt.status)
			}
			if status != http.StatusOK {
				if m["error"] != tt.wantScope {
					t.Fatalf("refresh with scope %q: error %v, want %s", tt.scope, m["error"], tt.wantScope)
				}
				return // the refresh token was not used up: the next case redeems it
			}
			at, _ := m["access_token"].(string)
			if got := jwtPart(t, at, 1)["scope"]; got != tt.wantScope || m["scope"] != tt.wantScope {
				t.Errorf("refresh with scope %q: token scope %v, response scope %v, want %q", tt.scope, got, m["scope"], tt.wantScope)
			}
			rt, _ = m["refresh_token"].(string)
		})
	}
}

// A client that may no longer be given a scope (an administrator took it
// away) does not keep getting it from refresh families granted before:
// a refresh without scope gets what is left, and asking for the removed
// scope is invalid_scope.
func TestRefreshDropsScopesTheClientLost(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	app := client.Client{ID: "mobile", Type: client.Public, FirstParty: true, RedirectURIs: []string{nativeCB},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken},
		Scopes:     []string{"openid", "offline_access", "orders:read"}}
	ctx := t.Context()
	if err := g.App.Store.CreateClient(ctx, app); err != nil {
		t.Fatal(err)
	}
	b := browser(t, g, "alice")
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "mobile", nativeCB, verifier, "openid offline_access orders:read")
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"mobile"},
		"redirect_uri": {nativeCB}, "code_verifier": {verifier}}, "", "")
	rt, _ := m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || rt == "" {
		t.Fatalf("code exchange = %d %v", resp.StatusCode, m)
	}

	// The administrator re-registers the app without orders:read.
	if err := g.App.Store.DeleteClient(ctx, "mobile"); err != nil {
		t.Fatal(err)
	}
	app.Scopes = []string{"openid", "offline_access"}
	if err := g.App.Store.CreateClient(ctx, app); err != nil {
		t.Fatal(err)
	}

	if status, m := refreshScoped(t, g, "mobile", "", rt, "orders:read"); status != http.StatusBadRequest || m["error"] != "invalid_scope" {
		t.Fatalf("refresh asking for the removed scope = %d %v, want 400 invalid_scope", status, m)
	}
	status, m := refreshScoped(t, g, "mobile", "", rt, "")
	at, _ := m["access_token"].(string)
	if status != http.StatusOK {
		t.Fatalf("refresh without scope = %d %v", status, m)
	}
	const want = "openid offline_access"
	if got := jwtPart(t, at, 1)["scope"]; got != want || m["scope"] != want {
		t.Errorf("refresh without scope: token scope %v, response scope %v, want %q", got, m["scope"], want)
	}
}

// A refused refresh scope is invalid_scope either way (RFC 6749 §6 and
// §5.2), and the description says which refusal it is: a scope the client
// may have but the refresh token's grant never carried was described as
// "not allowed for this client", which sent developers to the client's
// registration instead of the authorization request.
func TestRefreshInvalidScopeSaysWhy(t *testing.T) {
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")
	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, verifier, "openid offline_access orders:read")
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webCB}, "code_verifier": {verifier}}, "web", webSecret)
	rt, _ := m["refresh_token"].(string)
	if resp.StatusCode != http.StatusOK || rt == "" {
		t.Fatalf("code exchange = %d %v", resp.StatusCode, m)
	}
	for _, tt := range []struct{ name, scope, desc string }{
		{"the client may have it, the grant never carried it", "openid email", "a requested scope was not granted to this refresh token"},
		{"the client may not have it", "orders:write", "a requested scope is not allowed for this client"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, m := refreshScoped(t, g, "web", webSecret, rt, tt.scope)
			if status != http.StatusBadRequest || m["error"] != "invalid_scope" || m["error_description"] != tt.desc || len(m) != 2 {
				t.Errorf("refresh with scope %q = %d %v, want 400 {error: invalid_scope, error_description: %q}", tt.scope, status, m, tt.desc)
			}
		})
	}
	// Neither refusal used the refresh token up.
	if status, m := refreshScoped(t, g, "web", webSecret, rt, ""); status != http.StatusOK {
		t.Errorf("refresh after the refusals = %d %v, want 200", status, m)
	}
	// An authorization request has no grant yet: its only invalid_scope
	// is a scope the client may not have, worded as the token endpoint's.
	resp, _ = do(t, b, "GET", g.URL+"/auth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webCB}, "scope": {"openid orders:write"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"},
	}.Encode(), "")
	q := redirected(t, resp, webCB)
	if q.Get("error") != "invalid_scope" || q.Get("error_description") != "a requested scope is not allowed for this client" {
		t.Errorf("authorize with a scope the client may not have: redirect with %v, want invalid_scope, not allowed for this client", q)
	}
}
