package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestGatewayRolesAreAnyOf: routes[].roles is any-of (contract §5): a
// credential holding one of the listed roles passes, one holding none of
// them is 403 {"error":"forbidden"}, for sessions and tokens alike.
func TestGatewayRolesAreAnyOf(t *testing.T) {
	up := newUpstream(t)
	route := func(name, prefix string, roles ...string) config.Route {
		return config.Route{Name: name, Match: config.RouteMatch{PathPrefix: prefix}, Upstream: up.URL, Auth: "any", Roles: roles}
	}
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{route("ops", "/ops/", "admin", "ops"), route("staff", "/staff/", "ops", "user")}
	}))
	g.CreateUser(t, "alice", strongPassword, "user")
	g.CreateUser(t, "root", strongPassword, "admin", "user")
	cookieOf := func(user string) []string {
		resp, _ := loginJSON(t, testutil.Client(t), g.URL, user, strongPassword)
		return []string{"Cookie", "gatehouse=" + sessionCookie(t, resp, "gatehouse").Value}
	}
	bearerOf := func(user string) []string {
		return []string{"Authorization", "Bearer " + passwordGrant(t, g, user, strongPassword)["access_token"].(string)}
	}
	tests := []struct {
		who, path string
		cred      []string
		want      int
	}{
		{"alice session", "/ops/x", cookieOf("alice"), http.StatusForbidden}, // user is neither admin nor ops
		{"alice token", "/ops/x", bearerOf("alice"), http.StatusForbidden},
		{"alice session", "/staff/x", cookieOf("alice"), http.StatusOK}, // user is the second of [ops, user]
		{"alice token", "/staff/x", bearerOf("alice"), http.StatusOK},
		{"root session", "/ops/x", cookieOf("root"), http.StatusOK}, // admin is the first of [admin, ops]
		{"root token", "/staff/x", bearerOf("root"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "GET", g.URL+tt.path, "", tt.cred...)
			seen := up.seen()
			if resp.StatusCode != tt.want {
				t.Fatalf("= %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusForbidden {
				if got, want := strings.TrimSpace(body), `{"error":"forbidden"}`; got != want {
					t.Errorf("body = %q, want %q", got, want)
				}
				if seen != nil {
					t.Error("a forbidden request reached the upstream")
				}
				return
			}
			if seen == nil || seen.Header.Get("X-Auth-User") != strings.Fields(tt.who)[0] {
				t.Errorf("upstream saw %v, want the request as %s", seen, strings.Fields(tt.who)[0])
			}
		})
	}
}

// TestCookieDomainServesSubdomains: with sessions.cookie.domain set
// (contract §12), one login at auth.example.com is the session a route on
// another subdomain, app.example.com, accepts.
func TestCookieDomainServesSubdomains(t *testing.T) {
	up := newUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Sessions.Cookie.Domain = "example.com"
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{Host: "app.example.com", PathPrefix: "/"},
			Upstream: up.URL, Auth: "session", Timeout: config.Duration(5 * time.Second)}}
	}))
	g.CreateUser(t, "alice", strongPassword, "user")
	// A browser that reaches every *.example.com name at the instance.
	addr := strings.TrimPrefix(g.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	browser := testutil.Client(t)
	browser.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	app := "http://app.example.com:" + port + "/orders"
	if resp, _ := do(t, browser, "GET", app, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("before login: GET %s = %d, want 401", app, resp.StatusCode)
	}
	resp, body := loginJSON(t, browser, "http://auth.example.com:"+port, "alice", strongPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login at auth.example.com = %d %s", resp.StatusCode, body)
	}
	// The login also expires a host-only cookie of the same name
	// (TestDomainCookieReplacesAHostOnlyOne); the session is the other one.
	var domains []string
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse" && c.MaxAge >= 0 {
			domains = append(domains, c.Domain)
		}
	}
	if len(domains) != 1 || domains[0] != "example.com" {
		t.Errorf("session cookie Domain = %q, want one cookie for example.com (Set-Cookie %q)", domains, resp.Header.Values("Set-Cookie"))
	}
	resp, body = do(t, browser, "GET", app, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after login at auth.example.com: GET %s = %d %s, want 200", app, resp.StatusCode, body)
	}
	if seen := up.seen(); seen == nil || seen.Header.Get("X-Auth-User") != "alice" || seen.Header.Get("X-Auth-Method") != "session" {
		t.Errorf("upstream saw %v, want alice's session", seen)
	}
}
