package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A route's scopes (routes[].scopes, all-of) are checked by the one
// decision behind the gateway, forward-auth and Envoy: a bearer token must
// carry every one of them in its scope claim, as whole scope-tokens, or it
// gets 403 {"error":"forbidden"} with the RFC 6750 §3.1 challenge naming
// the scopes; a session on an auth: any route is not asked for scopes; a
// route without scopes is as before. The tokens are real: a registered
// confidential client's (client_credentials) and a first-party script's
// (password grant), each with the scopes it asked for.
func TestRouteScopes(t *testing.T) {
	up := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{
			{Name: "orders", Match: config.RouteMatch{PathPrefix: "/api/orders/"}, Upstream: up.URL, Auth: "token", Scopes: []string{"orders:read"}},
			{Name: "orders-any", Match: config.RouteMatch{PathPrefix: "/any/orders/"}, Upstream: up.URL, Auth: "any", Scopes: []string{"orders:read"}},
			{Name: "plain", Match: config.RouteMatch{PathPrefix: "/api/plain/"}, Upstream: up.URL, Auth: "token"},
		}
		scopes := []string{"orders:read", "orders:write", "orders:rea", "orders:readx", "profile"}
		c.Clients = []config.Client{
			{ID: "svc", Type: "confidential", Secret: svcSecret, GrantTypes: []string{"client_credentials"}, Scopes: scopes},
			{ID: "script", Type: "confidential", Secret: otherSec, FirstParty: true, GrantTypes: []string{"password"}, Scopes: scopes},
		}
	}))
	g.CreateUser(t, "alice", strongPassword)
	issue := func(form url.Values, client, secret string) string {
		t.Helper()
		resp, m := tokenCall(t, g, form, client, secret)
		at, _ := m["access_token"].(string)
		if resp.StatusCode != http.StatusOK || at == "" || m["scope"] != form.Get("scope") {
			t.Fatalf("token for %s with scope %q = %d %v", client, form.Get("scope"), resp.StatusCode, m)
		}
		return "Bearer " + at
	}
	client := func(scope string) string {
		return issue(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, "svc", svcSecret)
	}
	password := func(scope string) string {
		return issue(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}, "scope": {scope}}, "script", otherSec)
	}
	session := "gatehouse=" + sessionCookie(t, first(loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)), "gatehouse").Value

	const challenge = `Bearer realm="gatehouse", error="insufficient_scope", scope="orders:read"`
	tests := []struct {
		name, path string
		header     []string // the credential
		status     int
	}{
		{"client token with the scope", "/api/orders/1", []string{"Authorization", client("orders:read")}, 200},
		{"client token with more scopes", "/api/orders/1", []string{"Authorization", client("orders:read orders:write")}, 200},
		{"client token without scopes", "/api/orders/1", []string{"Authorization", client("")}, 403},
		{"client token with another scope", "/api/orders/1", []string{"Authorization", client("orders:write profile")}, 403},
		{"client token with a prefix of the scope", "/api/orders/1", []string{"Authorization", client("orders:rea")}, 403},
		{"client token with the scope and a suffix", "/api/orders/1", []string{"Authorization", client("orders:readx")}, 403},
		{"password token with the scope", "/api/orders/1", []string{"Authorization", password("profile orders:read")}, 200},
		{"password token without the scope", "/api/orders/1", []string{"Authorization", password("profile")}, 403},
		{"any route: token without the scope", "/any/orders/1", []string{"Authorization", client("profile")}, 403},
		{"any route: token with the scope", "/any/orders/1", []string{"Authorization", client("orders:read")}, 200},
		{"any route: session", "/any/orders/1", []string{"Cookie", session}, 200},
		{"route without scopes: token without scopes", "/api/plain/1", []string{"Authorization", client("")}, 200},
	}
	for _, tt := range tests {
		// The same request through the built-in gateway, nginx's
		// auth_request endpoint and Envoy's HTTP ext_authz endpoint.
		doors := []struct {
			name   string
			target string
			header []string
		}{
			{"gateway", tt.path, nil},
			{"nginx", "/auth/verify/nginx", []string{"X-Original-Method", "GET", "X-Original-URI", tt.path}},
			{"envoy", "/auth/verify/envoy" + tt.path, nil},
		}
		for _, door := range doors {
			t.Run(tt.name+"/"+door.name, func(t *testing.T) {
				n := up.Count()
				// do checks the exchange against openapi.json, whose
				// /auth/verify/envoy/{path} is one segment.
				send := func(t testing.TB, c *http.Client, method, u, body string, header ...string) (*http.Response, string) {
					return do(t.(*testing.T), c, method, u, body, header...)
				}
				if door.name == "envoy" {
					send = testutil.Send
				}
				resp, body := send(t, testutil.Client(t), "GET", g.URL+door.target, "", append(door.header, tt.header...)...)
				if resp.StatusCode != tt.status {
					t.Fatalf("GET %s = %d %s, want %d", door.target, resp.StatusCode, body, tt.status)
				}
				want := 0 // forward-auth answers; only the gateway proxies
				if door.name == "gateway" && tt.status == 200 {
					want = 1
				}
				if got := up.Count() - n; got != want {
					t.Errorf("upstream got %d requests, want %d", got, want)
				}
				if tt.status == 200 {
					if got := resp.Header.Get("WWW-Authenticate"); got != "" {
						t.Errorf("allowed request has WWW-Authenticate %q", got)
					}
					return
				}
				if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
				}
				if got, want := strings.TrimSpace(body), `{"error":"forbidden"}`; got != want {
					t.Errorf("body = %s, want %s", got, want)
				}
			})
		}
	}
	// The refusals are logged with their reason, never with the token.
	if logs := g.Logs(); !strings.Contains(logs, `"reason":"insufficient_scope"`) {
		t.Error(`no denial logged with reason "insufficient_scope"`)
	}
}

// first returns the response of a (response, body) pair.
func first(resp *http.Response, _ string) *http.Response { return resp }
