package frontproxy_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestGatehousePagesBehindRealProxies: the proxy sends exactly gatehouse's
// own pages to gatehouse, and everything else through forward-auth to the
// application. The second-factor page (/login/mfa, where the login and
// every step-up send the browser) and the passkey script the login page
// loads (/static/webauthn.js) used to reach the application behind Caddy
// (and the script behind nginx), so nobody with a second factor could sign
// in; nginx's unanchored prefix sent the application's /accounts/… to
// gatehouse instead.
//
// gatehouse's catch-all route has an upstream of its own, so a path the
// proxy wrongly gives gatehouse shows up there, not at the application.
func TestGatehousePagesBehindRealProxies(t *testing.T) {
	app := testutil.StartUpstream(t)
	routed := testutil.StartUpstream(t) // reached only through gatehouse's own gateway
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{{Name: "site", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: routed.URL, Auth: "none"}}
	}))
	gatehouse, appAddr := strings.TrimPrefix(g.URL, "http://"), strings.TrimPrefix(app.URL, "http://")
	tests := []struct {
		path      string
		gatehouse bool // answered by gatehouse itself, else by the application
	}{
		{"/login", true},
		{"/login/mfa", true},
		{"/account", true},
		{"/static/webauthn.js", true},
		{"/auth/session", true},
		{"/.well-known/jwks.json", true},
		{"/accounts/1", false},
		{"/account.css", false},
		{"/loginhelp", false},
		{"/login/other", false},
		{"/static/app.js", false},
		{"/authors/1", false},
	}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, tt := range tests {
				t.Run(tt.path, func(t *testing.T) {
					na, nr := app.Count(), routed.Count()
					resp, body := testutil.RawRequest(t, p.addr, "GET", tt.path)
					gotApp, gotRouted := len(app.Since(na)), len(routed.Since(nr))
					switch {
					case gotRouted > 0:
						t.Errorf("status %d: the proxy sent %s to gatehouse, whose gateway passed it on", resp.StatusCode, tt.path)
					case tt.gatehouse && gotApp > 0:
						t.Errorf("status %d: %s reached the application, not gatehouse", resp.StatusCode, tt.path)
					case !tt.gatehouse && (gotApp != 1 || resp.StatusCode != 200):
						t.Errorf("status %d, application got %d requests; want 200 and 1 (body %q)", resp.StatusCode, gotApp, body)
					}
				})
			}
		})
	}
}
