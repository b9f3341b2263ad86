package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// TestGatewayNeverProxiesVerifyPaths: proxies read an answer from under
// /auth/verify (forward-auth, Envoy's HTTP ext_authz) as an authorization
// decision, so the gateway must never answer such a request with an
// upstream's 200. Envoy appends the client's raw path to
// /auth/verify/envoy, so "../" segments could climb out of the prefix onto
// a public route (and a proxy configured with a typo'd endpoint would be
// told "allowed" by a catch-all route). The gateway here has a catch-all
// public route, the worst case.
func TestGatewayNeverProxiesVerifyPaths(t *testing.T) {
	up := newUpstream(t)
	g, err := gateway.New([]config.Route{
		route("all", "/", "none", up.URL),
		route("public", "/public/", "none", up.URL),
		route("admin", "/admin/", "session", up.URL, "admin"),
	}, deps())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	srv := httptest.NewServer(g) // the gateway alone, as httpapi's fallback
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, target string
		status               int
	}{
		{"envoy path climbing onto a public route", "GET", "/auth/verify/envoy/admin/../../../../public/x", 400},
		{"envoy path climbing out of the prefix", "GET", "/auth/verify/envoy/../../public/x", 400},
		{"envoy path with a dot segment inside the prefix", "GET", "/auth/verify/envoy/public/./x", 400},
		{"envoy path with an empty segment", "GET", "/auth/verify/envoy//public/x", 400},
		{"envoy path with an encoded dot segment", "GET", "/auth/verify/envoy/public/%2e%2e/x", 400},
		{"canonical envoy path", "GET", "/auth/verify/envoy/public/x", 404},
		{"nginx endpoint climbing onto a public route", "GET", "/auth/verify/nginx/../../public/x", 400},
		{"dot segment onto the generic endpoint", "GET", "/auth/verify/x/..", 400},
		{"dot segments into the namespace", "GET", "/public/../auth/verify/nginx", 400},
		{"typo'd endpoint", "GET", "/auth/verify/ngnix", 404},
		{"endpoint with a trailing slash", "GET", "/auth/verify/", 404},
		{"endpoint with another method", "POST", "/auth/verify/nginx", 404},
		{"generic endpoint", "GET", "/auth/verify", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := up.count()
			r := raw(t, srv, tt.method, tt.target, "X-Original-Method", "GET", "X-Original-URI", "/public/x")
			if hits := up.Since(n); len(hits) > 0 {
				t.Errorf("%s %s was proxied upstream as %q", tt.method, tt.target, hits[0].RequestURI)
			}
			wantJSONError(t, r, tt.status, map[int]string{400: "bad_request", 404: "not_found"}[tt.status])
			if e := g.Explain(newRequest(t, tt.method, srv.URL+tt.target)); e.Route != nil || e.Status != tt.status {
				t.Errorf("Explain = status %d route %+v, want %d and no route", e.Status, e.Route, tt.status)
			}
		})
	}
	// Neighbours of the namespace are ordinary paths.
	for _, target := range []string{"/auth/verifyx", "/public/auth/verify/nginx"} {
		n := up.count()
		if r := raw(t, srv, "GET", target); r.StatusCode != http.StatusOK || len(up.Since(n)) != 1 {
			t.Errorf("GET %s = %d, want 200 from the upstream", target, r.StatusCode)
		}
	}
}
