package frontproxy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestProtectedHeadersNeverReachTheApp sends, through real nginx and Caddy,
// the headers contract §5 protects: a method override would have the
// application run another method than the one gatehouse judged ("POST"
// allowed, "DELETE" run), X-Original-URL and X-Rewrite-URL another path
// (Symfony, Zend and IIS rewrite read them), and the forwarding headers
// another client address, host or scheme (Rack reads X-Forwarded-Scheme and
// -Ssl). None may reach the application with the client's value, in any
// spelling that a CGI-style server (gunicorn, PHP) folds into one of those
// names.
//
// The routes are the common shape: a public catch-all and a protected
// /admin/. Paths the proxy sends to gatehouse's own location (/auth/…,
// /.well-known/…) but that no gatehouse endpoint serves reach the
// application through gatehouse's gateway, which believes the forwarding
// headers of a trusted proxy: the proxy must remove the client's there too,
// or "/auth/x" with "X-Original-URL: /admin/secret" is judged public and
// served as the admin page.
func TestProtectedHeadersNeverReachTheApp(t *testing.T) {
	a := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.PublicURL = publicURL
		c.Routes = []config.Route{
			{Name: "site", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: a.URL, Auth: "none"},
			{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: a.URL, Auth: "any", Roles: []string{"admin"}},
		}
	}))
	gatehouse := strings.TrimPrefix(g.URL, "http://")
	appAddr := strings.TrimPrefix(a.URL, "http://")
	const spoof = "spoofed-by-client"
	names := []string{
		"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
		"X-Original-URL", "X-Original-URI", "X-Original-Method", "X-Rewrite-URL",
		"Forwarded", "X-Real-IP", "True-Client-IP",
		"X-Forwarded-Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix", "X-Forwarded-Port",
		"X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Server",
		"X_HTTP_Method_Override", "X_Original_URL", "X_Forwarded_Host", "X.Original.URL", "X_Auth_User", "X.Auth.User",
	}
	// The forward-auth location, then paths the proxies send to gatehouse.
	paths := []string{"/x", "/auth/x", "/.well-known/x"}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, path := range paths {
				for _, h := range names {
					t.Run(path+" "+h, func(t *testing.T) {
						n := a.Count()
						resp, body := testutil.RawRequest(t, p.addr, "GET", path, h, spoof)
						got := a.Since(n)
						if resp.StatusCode != 200 || len(got) != 1 {
							t.Fatalf("status = %d, application got %d requests; want 200 and 1 (body %q)", resp.StatusCode, len(got), body)
						}
						for k, v := range got[0].Header {
							if folded(k) == folded(h) && slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, spoof) }) {
								t.Errorf("the application got %s: %q", k, v)
							}
						}
					})
				}
			}
		})
	}
}

// folded is a header name as CGI, WSGI and PHP read it: upper case, with
// '-' and '.' as '_'.
func folded(name string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}
