package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// signInLink finds the link back to sign-in of httperr's page.
var signInLink = regexp.MustCompile(`<a href="([^"]*)">Back to sign-in</a>`)

// TestOutagePageLinksToTheLoginRedirect: with the session store down, a
// browser gets the HTML 503 page, whose link back to sign-in is the URL
// its login redirect would have named: forward-auth and Envoy (whose
// proxies pass the page on to a browser on the app's host) and nginx get gatehouse's
// absolute login URL on public_url, with next back on the route's host
// when a route names it; the built-in gateway keeps /login on the
// request's own host, which gatehouse serves on every host.
func TestOutagePageLinksToTheLoginRedirect(t *testing.T) {
	const up = "http://127.0.0.1:1" // never contacted: the store is down
	hosted := route("app-admin", "/admin/", "session", up)
	hosted.Match.Host = "app.example.com"
	d := deps()
	d.PublicURL = "https://auth.example.com"
	g, srv := serve(t, []config.Route{hosted, route("admin", "/admin/", "session", up)}, d)
	const envoy = "envoy" // not a path: the case goes through Gateway.Check
	login := func(next string) string { return "https://auth.example.com/login?next=" + url.QueryEscape(next) }
	fwd := func(host string) []string {
		return []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x?a=1", "X-Forwarded-Host", host, "X-Forwarded-Proto", "https"}
	}
	tests := []struct {
		name, path, host string
		header           []string
		want             string
	}{
		{"forward-auth, a route's host", gateway.VerifyForwardPath, "", fwd("app.example.com"), login("https://app.example.com/admin/x?a=1")},
		{"forward-auth, public_url's host", gateway.VerifyForwardPath, "", fwd("auth.example.com"), login("/admin/x?a=1")},
		{"forward-auth, a host no route names", gateway.VerifyForwardPath, "", fwd("other.example.com"), login("/admin/x?a=1")},
		{"nginx, a route's host", gateway.VerifyNginxPath, "app.example.com", nginx("GET", "/admin/x?a=1"), login("https://app.example.com/admin/x?a=1")},
		{"envoy (Check), a route's host", envoy, "app.example.com", nil, login("https://app.example.com/admin/x?a=1")},
		{"gateway, a route's host", "/admin/x?a=1", "app.example.com", nil, "/login?next=%2Fadmin%2Fx%3Fa%3D1"},
		{"gateway, public_url's host", "/admin/x?a=1", "auth.example.com", nil, "/login?next=%2Fadmin%2Fx%3Fa%3D1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ask := func(cred ...string) reply {
				if tt.path == envoy { // Envoy's ext_authz: the original request, judged by Check
					req := newRequest(t, "GET", "http://"+tt.host+"/admin/x?a=1", join([]string{"Accept", "text/html"}, cred)...)
					req.RemoteAddr = "127.0.0.1:40000"
					v := g.Check(req)
					return reply{&http.Response{StatusCode: v.Status, Header: v.Header}, string(v.Body)}
				}
				req := newRequest(t, "GET", srv.URL+tt.path, join(tt.header, []string{"Accept", "text/html"}, cred)...)
				if tt.host != "" {
					req.Host = tt.host
				}
				return do(t, req)
			}
			r := ask(sessionCred("down")...)
			if r.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503 (body %q)", r.StatusCode, r.Body)
			}
			if got, want := r.Header.Get("Retry-After"), httperr.RetryAfter(httperr.StoreRetry); got != want {
				t.Errorf("Retry-After = %q, want %q", got, want)
			}
			m := signInLink.FindStringSubmatch(r.Body)
			if m == nil {
				t.Fatalf("no sign-in link on the page (Content-Type %q): %.400s", r.Header.Get("Content-Type"), r.Body)
			}
			if got := html.UnescapeString(m[1]); got != tt.want {
				t.Errorf("sign-in link = %q, want %q", got, tt.want)
			}
			// The same URL as the login redirect of a browser without a
			// session (nginx: the X-Auth-Redirect hint).
			noSession := ask()
			redirect := noSession.Header.Get("Location") + noSession.Header.Get("X-Auth-Redirect")
			if redirect != tt.want {
				t.Errorf("login redirect = %q, want the page's link %q", redirect, tt.want)
			}
		})
	}
}
