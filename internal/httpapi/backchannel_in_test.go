package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// providerLogin signs browser b in through login provider "corp" (following
// the redirects through the provider) and returns the final response.
func providerLogin(t *testing.T, g *testutil.Instance, b *http.Client) *http.Response {
	t.Helper()
	resp, _ := do(t, b, "GET", g.URL+"/auth/oidc/corp/start?next=/account", "")
	for range 10 {
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			break
		}
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, "/") {
			loc = g.URL + loc
		}
		if strings.HasPrefix(loc, g.URL+"/account") {
			return resp
		}
		if strings.HasPrefix(loc, g.URL+"/") {
			resp, _ = do(t, b, "GET", loc, "") // checked against openapi.json
			continue
		}
		var err error
		if resp, err = b.Get(loc); err != nil { // the provider
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	t.Fatalf("OIDC login ended with %d %q", resp.StatusCode, resp.Header.Get("Location"))
	return nil
}

// A login provider's logout token ends the gatehouse session made from
// that provider session, through the normal session end: the app that got
// tokens in it is logged out over its own back channel, and its tokens stop.
func TestInboundBackchannelLogoutLogsOutApps(t *testing.T) {
	r := newRP(t)
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-alice", PreferredUsername: "alice",
		Email: "alice@corp.example", EmailVerified: true}))
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
			ClientSecret: op.ClientSecret(), CreateUsers: true, BackchannelLogout: true}}
		c.Clients = []config.Client{{ID: "web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
			BackchannelLogoutURI: r.URL + "/bcl", FirstParty: true,
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}}}
	}))
	op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")

	b := testutil.Client(t)
	providerLogin(t, g, b)
	firstSID := op.SessionID()
	other := testutil.Client(t)
	op.NewSession() // a second login, in another provider session
	providerLogin(t, g, other)

	v := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "web", webCB, v, "openid offline_access")
	resp, toks := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange = %d %v", resp.StatusCode, toks)
	}

	// The provider logs out its first session.
	lt := op.NewLogoutToken("sub-alice")
	lt.SID = firstSID
	raw, err := op.Sign(lt)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"logout_token": {raw}}.Encode()
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/oidc/corp/backchannel-logout", form,
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout = %d %q %s, want 200 no-store", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	checkLogoutToken(t, g, r.await(t, 2*time.Second), toks["id_token"].(string))
	if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session of the logged-out provider session = %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, other, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("session of another provider session = %d, want 200", resp.StatusCode)
	}
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks["refresh_token"].(string)}}, "web", webSecret)
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("the app's refresh token after the provider's logout = %d %v, want invalid_grant", resp.StatusCode, m)
	}

	// The same logout token again is a replay.
	resp, body = do(t, testutil.Client(t), "POST", g.URL+"/auth/oidc/corp/backchannel-logout", form,
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"invalid_request"`) {
		t.Errorf("replayed logout token = %d %s, want 400 invalid_request", resp.StatusCode, body)
	}
	g.AssertLogsDoNotContain(t, raw)
}
