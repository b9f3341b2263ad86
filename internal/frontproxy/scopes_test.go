package frontproxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A token refused for a route's scopes, or for its roles, gets 403 and
// gatehouse's RFC 6750 §3.1 challenge through each real proxy configured
// with docs/forward-auth.md's snippets: nginx's auth_request passes a
// subrequest's WWW-Authenticate on only with a 401, so its snippet copies
// it onto the 403 itself.
func TestInsufficientScopeChallengeBehindRealProxies(t *testing.T) {
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "orders", Match: config.RouteMatch{PathPrefix: "/orders/"}, Upstream: a.URL, Auth: "any", Scopes: []string{"orders:read"}},
			{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: a.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
	g.CreateUser(t, "alice", password, "user")
	alice := bearer(t, g, "alice") // the built-in client's token: no scopes
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(a.URL, "http://")
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, tt := range []struct {
				name, target, challenge string
			}{
				{"missing scope", "/orders/1", `Bearer realm="gatehouse", error="insufficient_scope", scope="orders:read"`},
				{"wrong role", "/admin/x", `Bearer realm="gatehouse", error="insufficient_scope"`},
			} {
				t.Run(tt.name, func(t *testing.T) {
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, "GET", tt.target, "Authorization", alice)
					if resp.StatusCode != http.StatusForbidden {
						t.Fatalf("status = %d, want 403 (body %q)", resp.StatusCode, body)
					}
					if got := resp.Header.Values("Www-Authenticate"); len(got) != 1 || got[0] != tt.challenge {
						t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
					}
					if a.Count() != n {
						t.Error("the refused request reached the application")
					}
				})
			}
		})
	}
}
