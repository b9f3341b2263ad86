package frontproxy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/frontproxy"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestProtectedHeadersNeverReachTheApp sends, through real nginx and Caddy
// to an auth: none route, the headers contract §5 protects: a method
// override would have the application run another method than the one
// gatehouse judged ("POST" allowed, "DELETE" run), X-Original-URL and
// X-Rewrite-URL another path (Symfony, Zend and IIS rewrite read them), and
// the forwarding headers another client address or host. None may reach
// the application with the client's value, in any spelling that a
// CGI-style server (gunicorn, PHP) folds into one of those names.
func TestProtectedHeadersNeverReachTheApp(t *testing.T) {
	g, a := setup(t)
	gatehouse := strings.TrimPrefix(g.URL, "http://")
	appAddr := strings.TrimPrefix(a.URL, "http://")
	const spoof = "spoofed-by-client"
	names := []string{
		"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
		"X-Original-URL", "X-Original-URI", "X-Original-Method", "X-Rewrite-URL",
		"Forwarded", "X-Real-IP", "True-Client-IP",
		"X-Forwarded-Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Prefix", "X-Forwarded-Port",
		"X_HTTP_Method_Override", "X_Original_URL", "X_Forwarded_Host", "X.Original.URL", "X_Auth_User", "X.Auth.User",
	}
	for _, name := range []string{frontproxy.Nginx, frontproxy.Caddy} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, name, gatehouse, appAddr)
			for _, h := range names {
				t.Run(h, func(t *testing.T) {
					n := a.Count()
					resp, body := testutil.RawRequest(t, p.addr, "GET", "/public/x", h, spoof)
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
		})
	}
}

// folded is a header name as CGI, WSGI and PHP read it: upper case, with
// '-' and '.' as '_'.
func folded(name string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}
