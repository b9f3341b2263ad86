package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestVerifyPathsAreNeverProxied runs gatehouse with a catch-all public
// route, the worst case, and sends requests under /auth/verify the way
// proxies do. Proxies read these answers as authorization decisions, so a
// request there must be answered by gatehouse and never by an upstream:
// Envoy's HTTP ext_authz appends the client's raw path to
// /auth/verify/envoy, and "../" segments in it used to climb out of the
// prefix to a public route, whose 200 Envoy took for an allow (with the
// client's X-Auth-* headers passed on, since no
// X-Envoy-Auth-Headers-To-Remove came back).
func TestVerifyPathsAreNeverProxied(t *testing.T) {
	up := testutil.StartUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{
			{Name: "all", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up.URL, Auth: "none"},
			{Name: "public", Match: config.RouteMatch{PathPrefix: "/public/"}, Upstream: up.URL, Auth: "none"},
			{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: up.URL, Auth: "session", Roles: []string{"admin"}},
		}
	}))
	addr := strings.TrimPrefix(g.URL, "http://")
	// What a client spoofs, and the description nginx would add.
	spoofed := []string{"X-Auth-User", "root", "X-Auth-Roles", "admin", "X-Forwarded-Proto", "https",
		"X-Original-Method", "GET", "X-Original-URI", "/public/x"}
	tests := []struct {
		name, method, target string
		status               int
	}{
		// Envoy's HTTP service: the original method and path after the prefix.
		{"envoy: dot segments climbing onto a public route", "GET", "/auth/verify/envoy/admin/../../../../public/x", 400},
		{"envoy: dot segments climbing out of the prefix", "GET", "/auth/verify/envoy/../../public/x", 400},
		{"envoy: dot segments inside the original path", "GET", "/auth/verify/envoy/admin/../public/x", 400},
		{"envoy: a dot segment", "POST", "/auth/verify/envoy/public/./x", 400},
		{"envoy: an empty segment", "GET", "/auth/verify/envoy//public/x", 400},
		{"envoy: an encoded dot segment", "GET", "/auth/verify/envoy/public/%2e%2e/x", 400},
		{"envoy: a trailing dot-dot", "GET", "/auth/verify/envoy/admin/..", 400},
		// The forward-auth endpoints: no spelling of them reaches a route.
		{"nginx endpoint climbing onto a public route", "GET", "/auth/verify/nginx/../../public/x", 400},
		{"dot segment onto the generic endpoint", "GET", "/auth/verify/x/..", 400},
		{"dot segments into the namespace", "GET", "/public/../auth/verify/nginx", 400},
		{"typo'd endpoint", "GET", "/auth/verify/ngnix", 404},
		{"endpoint with a trailing slash", "GET", "/auth/verify/", 404},
		{"endpoint with another method", "POST", "/auth/verify/forward", 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := up.Count()
			resp, body := testutil.RawRequest(t, addr, tt.method, tt.target, spoofed...)
			if hits := up.Since(n); len(hits) > 0 {
				t.Errorf("%s %s was proxied upstream as %q with X-Auth-User %q", tt.method, tt.target, hits[0].RequestURI, hits[0].Header.Get("X-Auth-User"))
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("X-Auth-User"); got != "" {
				t.Errorf("X-Auth-User = %q, want none", got)
			}
		})
	}

	// The canonical spellings are judged: Envoy's HTTP service answers with
	// the headers to remove; the nginx endpoint with the identity headers.
	t.Run("envoy: canonical path", func(t *testing.T) {
		n := up.Count()
		resp, body := testutil.RawRequest(t, addr, "GET", "/auth/verify/envoy/public/x?q=1", spoofed...)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("X-Envoy-Auth-Headers-To-Remove"), "x-auth-user") {
			t.Errorf("= %d, X-Envoy-Auth-Headers-To-Remove %q (body %q), want 200 naming x-auth-user",
				resp.StatusCode, resp.Header.Get("X-Envoy-Auth-Headers-To-Remove"), body)
		}
		if up.Count() != n {
			t.Error("the check reached the upstream")
		}
	})
	t.Run("nginx endpoint", func(t *testing.T) {
		n := up.Count()
		resp, body := testutil.RawRequest(t, addr, "GET", "/auth/verify/nginx", spoofed...)
		if v := resp.Header.Values("X-Auth-User"); resp.StatusCode != http.StatusOK || len(v) != 1 || v[0] != "" {
			t.Errorf("= %d, X-Auth-User %q (body %q), want 200 with an empty X-Auth-User", resp.StatusCode, resp.Header.Values("X-Auth-User"), body)
		}
		if up.Count() != n {
			t.Error("the check reached the upstream")
		}
	})
	// The built-in gateway still normalises its own paths (contract §5).
	t.Run("gateway", func(t *testing.T) {
		n := up.Count()
		resp, _ := testutil.RawRequest(t, addr, "GET", "/auth/../public/x")
		if hits := up.Since(n); resp.StatusCode != http.StatusOK || len(hits) != 1 || hits[0].RequestURI != "/public/x" {
			t.Errorf("= %d, upstream saw %v; want 200 and /public/x", resp.StatusCode, hits)
		}
	})
}
