package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/duration"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// corsUpstream is a loopback API that answers CORS itself, as the upstream
// of a skip_auth_preflight route must: a preflight gets 204 with the
// Access-Control-* headers, anything else 200. It records the headers of
// every request it gets.
type corsUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seen
}

func newCORSUpstream(t *testing.T) *corsUpstream {
	t.Helper()
	u := &corsUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
		u.mu.Unlock()
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = w.Write([]byte("api ok"))
	}))
	t.Cleanup(u.Close)
	return u
}

// requests returns how many requests reached the upstream and the last one.
func (u *corsUpstream) requests() (int, seen) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return 0, seen{}
	}
	return len(u.seen), u.seen[len(u.seen)-1]
}

const spaOrigin = "https://app.example.com"

// preflightHeaders are what a browser sends before a cross-origin DELETE
// with Authorization: no credential.
func preflightHeaders(method string) []string {
	return []string{"Origin", spaOrigin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization"}
}

// preflightRoutes: /api/ is the SPA's token API (methods listed without
// OPTIONS, roles and mfa that a preflight cannot meet); /open/ accepts
// every method; /plain/ has no skip_auth_preflight; /split/ serves GET
// with the key and POST without it; /public/ is auth: none with methods.
func preflightRoutes(api, other string) []config.Route {
	key := func(c config.Route, methods ...string) config.Route {
		c.SkipAuthPreflight = true
		c.Match.Methods = methods
		return c
	}
	apiRoute := key(route("api", "/api/", "token", api, "admin"), "GET", "POST", "DELETE")
	apiRoute.MFA = true
	apiRoute.Forward = "jwt"
	splitWrite := route("split-write", "/split/", "token", other)
	splitWrite.Match.Methods = []string{"POST"}
	publicNoKey := route("public-nokey", "/public-nokey/", "none", other)
	publicNoKey.Match.Methods = []string{"GET"}
	return []config.Route{
		apiRoute,
		key(route("open", "/open/", "any", other)),
		route("plain", "/plain/", "token", other),
		key(route("split-read", "/split/", "token", other), "GET"),
		splitWrite,
		key(route("public", "/public/", "none", other), "GET"),
		publicNoKey,
	}
}

// TestGatewayPreflight: a CORS preflight on a skip_auth_preflight route
// reaches the upstream unauthenticated, which answers it; every other
// request is judged as without the key.
func TestGatewayPreflight(t *testing.T) {
	api, other := newCORSUpstream(t), newCORSUpstream(t)
	_, srv := serve(t, preflightRoutes(api.URL, other.URL), deps())
	spoofed := []string{"X-Auth-User", "root", "X-Auth-Roles", "admin", "X-Auth-Method", "token", "X-Auth-Admin", "1"}
	tests := []struct {
		name     string
		method   string
		path     string
		header   []string
		status   int
		code     string        // JSON error of a refusal
		upstream *corsUpstream // the upstream that must get the request; nil: none
	}{
		{"preflight on the token route, methods without OPTIONS", "OPTIONS", "/api/orders/1", preflightHeaders("DELETE"), 204, "", api},
		{"preflight with spoofed identity headers", "OPTIONS", "/api/orders/1", join(preflightHeaders("POST"), spoofed), 204, "", api},
		{"preflight with a bearer token: still no identity", "OPTIONS", "/api/orders/1", join(preflightHeaders("GET"), tokenCred("root")), 204, "", api},
		{"preflight for a method the route lists not", "OPTIONS", "/api/orders/1", preflightHeaders("PUT"), 404, "not_found", nil},
		{"preflight on a route that accepts OPTIONS", "OPTIONS", "/open/x", preflightHeaders("PUT"), 204, "", other},
		{"preflight on auth none with methods", "OPTIONS", "/public/x", preflightHeaders("GET"), 204, "", other},
		{"preflight on auth none with methods, no key: unrouted as before", "OPTIONS", "/public-nokey/x", preflightHeaders("GET"), 404, "not_found", nil},
		{"preflight for the keyed method of a split prefix", "OPTIONS", "/split/x", preflightHeaders("GET"), 204, "", other},
		{"preflight for the unkeyed method of a split prefix", "OPTIONS", "/split/x", preflightHeaders("POST"), 404, "not_found", nil},
		{"the real request after the preflight needs its token", "DELETE", "/api/orders/1", []string{"Origin", spaOrigin}, 401, "unauthorized", nil},
		{"the real request with an admin token but no second factor", "DELETE", "/api/orders/1", join([]string{"Origin", spaOrigin}, tokenCred("root")), 401, "insufficient_user_authentication", nil},
		// Not preflights: authenticated as without the key.
		{"OPTIONS without Access-Control-Request-Method", "OPTIONS", "/open/x", []string{"Origin", spaOrigin}, 401, "unauthorized", nil},
		{"OPTIONS without Origin", "OPTIONS", "/open/x", []string{"Access-Control-Request-Method", "GET"}, 401, "unauthorized", nil},
		{"OPTIONS with an empty Origin", "OPTIONS", "/open/x", []string{"Origin", "", "Access-Control-Request-Method", "GET"}, 401, "unauthorized", nil},
		{"OPTIONS with Access-Control-Request-Method twice", "OPTIONS", "/open/x", join(preflightHeaders("GET"), []string{"Access-Control-Request-Method", "POST"}), 401, "unauthorized", nil},
		{"OPTIONS with Origin twice", "OPTIONS", "/open/x", join(preflightHeaders("GET"), []string{"Origin", "https://evil.example"}), 401, "unauthorized", nil},
		{"GET with the preflight headers", "GET", "/api/orders/1", preflightHeaders("GET"), 401, "unauthorized", nil},
		{"DELETE with the preflight headers", "DELETE", "/api/orders/1", preflightHeaders("DELETE"), 401, "unauthorized", nil},
		{"non-preflight OPTIONS on methods without OPTIONS: unrouted as before", "OPTIONS", "/api/orders/1", []string{"Origin", spaOrigin}, 404, "not_found", nil},
		{"preflight on a route without the key", "OPTIONS", "/plain/x", preflightHeaders("GET"), 401, "unauthorized", nil},
		{"non-preflight OPTIONS on a route without the key", "OPTIONS", "/plain/x", nil, 401, "unauthorized", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeAPI, _ := api.requests()
			beforeOther, _ := other.requests()
			r := do(t, newRequest(t, tt.method, srv.URL+tt.path, tt.header...))
			if tt.code != "" {
				wantJSONError(t, r, tt.status, tt.code)
			} else if r.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
			}
			nAPI, lastAPI := api.requests()
			nOther, lastOther := other.requests()
			reached := map[*corsUpstream]bool{api: nAPI > beforeAPI, other: nOther > beforeOther}
			for u, got := range reached {
				if want := u == tt.upstream; got != want {
					t.Errorf("upstream %s reached = %v, want %v", u.URL, got, want)
				}
			}
			if tt.upstream == nil {
				return
			}
			last := lastOther
			if tt.upstream == api {
				last = lastAPI
			}
			if last.Method != http.MethodOptions {
				t.Errorf("upstream method = %q, want OPTIONS", last.Method)
			}
			for k := range last.Header {
				if strings.HasPrefix(k, "X-Auth-") || k == "Authorization" {
					t.Errorf("upstream got %s = %q, want no identity and no credential", k, last.Header[k])
				}
			}
			// The upstream answers the preflight; gatehouse adds no CORS header.
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want the upstream's %q", got, spaOrigin)
			}
		})
	}
}

// TestGatewayPreflightIsLikeAuthNone: what the upstream of a preflight gets
// is what the upstream of an auth: none route gets for the same request.
func TestGatewayPreflightIsLikeAuthNone(t *testing.T) {
	keyed, open := newUpstream(t), newUpstream(t)
	api := route("api", "/api/", "session", keyed.URL)
	api.SkipAuthPreflight = true
	_, srv := serve(t, []config.Route{api, route("none", "/none/", "none", open.URL)}, deps())
	h := join(preflightHeaders("GET"), sessionCred("root"),
		[]string{"X-Auth-Subject", "u-root", "X_Auth_User", "root", "Cookie", "theme=dark"})
	for _, p := range []string{"/api/x", "/none/x"} {
		if r := do(t, newRequest(t, "OPTIONS", srv.URL+p, h...)); r.StatusCode != 200 || r.Body != "upstream ok" {
			t.Fatalf("OPTIONS %s = %d %q, want the upstream's 200", p, r.StatusCode, r.Body)
		}
	}
	got, want := keyed.last(t).Header, open.last(t).Header
	for _, k := range []string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Roles", "X-Auth-Method", "X-Auth-Amr", "X_auth_user", "Authorization", "Cookie", "Origin", "Access-Control-Request-Method"} {
		if g, w := strings.Join(got[k], "|"), strings.Join(want[k], "|"); g != w {
			t.Errorf("%s: preflight upstream got %q, auth none upstream %q", k, g, w)
		}
	}
	if c := got.Get("Cookie"); c != "theme=dark" {
		t.Errorf("Cookie = %q, want the session cookie stripped", c)
	}
}

// TestGatewayPreflightBadPath: path checks come before the route, so a
// preflight cannot reach a route by a spelling the matcher did not see.
func TestGatewayPreflightBadPath(t *testing.T) {
	api := newCORSUpstream(t)
	_, srv := serve(t, preflightRoutes(api.URL, api.URL), deps())
	for _, target := range []string{"/api/..%2fadmin", "/public/%2e%2e/api/x", "/api/x%00", "/api/..;/x"} {
		t.Run(target, func(t *testing.T) {
			r := raw(t, srv, "OPTIONS", target, preflightHeaders("GET")...)
			wantJSONError(t, r, http.StatusBadRequest, "bad_request")
			if n, _ := api.requests(); n != 0 {
				t.Errorf("upstream got %d requests, want none", n)
			}
		})
	}
}

// TestGatewayPreflightRateLimit: a route's rate limit counts preflights.
// On a per subject route they spend a bucket of their client address, not
// a user's.
func TestGatewayPreflightRateLimit(t *testing.T) {
	up := newUpstream(t)
	limited := func(name, prefix, per string) config.Route {
		c := route(name, prefix, "token", up.URL)
		c.SkipAuthPreflight = true
		c.RateLimit = &gateway.RateLimitConfig{Per: per, Rate: 1, Window: duration.Duration(time.Hour)}
		return c
	}
	_, srv := serve(t, []config.Route{limited("by-ip", "/ip/", "ip"), limited("by-subject", "/subject/", "subject")}, deps())
	send := func(method, path string, h ...string) int {
		t.Helper()
		return do(t, newRequest(t, method, srv.URL+path, h...)).StatusCode
	}
	steps := []struct {
		name   string
		method string
		path   string
		header []string
		want   int
	}{
		{"per ip: first preflight", "OPTIONS", "/ip/x", preflightHeaders("GET"), 200},
		{"per ip: second preflight", "OPTIONS", "/ip/x", preflightHeaders("GET"), 429},
		{"per subject: first preflight", "OPTIONS", "/subject/x", preflightHeaders("GET"), 200},
		{"per subject: second preflight", "OPTIONS", "/subject/x", preflightHeaders("GET"), 429},
		{"per subject: the user's own bucket is untouched", "GET", "/subject/x", tokenCred("alice"), 200},
		{"per subject: and spent by the user", "GET", "/subject/x", tokenCred("alice"), 429},
	}
	for _, s := range steps {
		if got := send(s.method, s.path, s.header...); got != s.want {
			t.Errorf("%s: status = %d, want %d", s.name, got, s.want)
		}
	}
}

// TestVerifyPreflight runs the forward-auth endpoints: a CORS preflight
// that a proxy describes is allowed on a skip_auth_preflight route with
// the identity headers of an auth: none route (present and empty, so the
// proxy overwrites a client's spoofed ones), and every other request is
// judged as without the key.
func TestVerifyPreflight(t *testing.T) {
	const up = "http://127.0.0.1:1" // never contacted by /auth/verify
	_, srv := serve(t, preflightRoutes(up, up), verifyDeps())
	type describe func(method, uri string) []string
	endpoints := []struct {
		path string
		desc describe
	}{
		{gateway.VerifyPath, traefik},
		{gateway.VerifyPath, nginx},
		{gateway.VerifyNginxPath, nginx},
		{gateway.VerifyForwardPath, traefik},
	}
	spoofed := []string{"X-Auth-User", "root", "X-Auth-Subject", "u-root", "X-Auth-Roles", "admin", "X-Auth-Method", "token"}
	tests := []struct {
		name   string
		method string // of the described request
		uri    string
		header []string
		status int
		code   string
	}{
		{"preflight on the token route, methods without OPTIONS", "OPTIONS", "/api/orders/1?x=1", preflightHeaders("DELETE"), 200, ""},
		{"preflight with spoofed identity headers", "OPTIONS", "/api/orders/1", join(preflightHeaders("POST"), spoofed), 200, ""},
		{"preflight with a bearer token: still no identity", "OPTIONS", "/api/orders/1", join(preflightHeaders("GET"), tokenCred("root")), 200, ""},
		{"preflight on a route that accepts OPTIONS", "OPTIONS", "/open/x", preflightHeaders("PUT"), 200, ""},
		{"preflight on auth none with methods", "OPTIONS", "/public/x", preflightHeaders("GET"), 200, ""},
		{"preflight for a method the route lists not", "OPTIONS", "/api/orders/1", preflightHeaders("PUT"), 404, "not_found"},
		{"preflight for the unkeyed method of a split prefix", "OPTIONS", "/split/x", preflightHeaders("POST"), 404, "not_found"},
		{"preflight on a non-canonical path", "OPTIONS", "/public/../api/x", preflightHeaders("GET"), 400, "bad_request"},
		{"preflight on an encoded slash", "OPTIONS", "/api/..%2fx", preflightHeaders("GET"), 400, "bad_request"},
		{"OPTIONS without Access-Control-Request-Method", "OPTIONS", "/open/x", []string{"Origin", spaOrigin}, 401, "unauthorized"},
		{"OPTIONS with Access-Control-Request-Method twice", "OPTIONS", "/open/x", join(preflightHeaders("GET"), []string{"Access-Control-Request-Method", "GET"}), 401, "unauthorized"},
		{"GET with the preflight headers", "GET", "/api/orders/1", preflightHeaders("GET"), 401, "unauthorized"},
		{"preflight on a route without the key", "OPTIONS", "/plain/x", preflightHeaders("GET"), 401, "unauthorized"},
	}
	for _, ep := range endpoints {
		for _, tt := range tests {
			family := "forward"
			if ep.desc(tt.method, tt.uri)[0] == "X-Original-Method" {
				family = "nginx"
			}
			t.Run(ep.path+" "+family+"/"+tt.name, func(t *testing.T) {
				r := do(t, newRequest(t, "GET", srv.URL+ep.path, join(ep.desc(tt.method, tt.uri), tt.header)...))
				if tt.code != "" {
					wantJSONError(t, r, tt.status, tt.code)
				} else if r.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d (body %q)", r.StatusCode, tt.status, r.Body)
				}
				if r.StatusCode != http.StatusOK {
					return
				}
				for _, k := range []string{"X-Auth-Subject", "X-Auth-User", "X-Auth-Roles", "X-Auth-Method", "X-Auth-Amr"} {
					if got := r.Header.Values(k); len(got) != 1 || got[0] != "" {
						t.Errorf("%s = %q, want present and empty, as on auth: none", k, got)
					}
				}
				if got := r.Header.Get("Authorization"); got != "" {
					t.Errorf("Authorization = %q, want none (no internal JWT without an identity)", got)
				}
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("Access-Control-Allow-Origin = %q: gatehouse must leave CORS to the upstream", got)
				}
			})
		}
	}
}

// TestExplainPreflight: explain says a preflight passes on a
// skip_auth_preflight route, with the gateway's own status, and judges
// every other request as the gateway does.
func TestExplainPreflight(t *testing.T) {
	api := newCORSUpstream(t)
	g, srv := serve(t, preflightRoutes(api.URL, api.URL), deps())
	tests := []struct {
		name, method, path string
		header             []string
		status             int
		reason, route      string
		preflight          bool // explained as a preflight that passes
	}{
		{"preflight on the token route", "OPTIONS", "/api/orders/1", join(preflightHeaders("DELETE"), tokenCred("root")), 204, "", "api", true},
		{"preflight on auth none with methods", "OPTIONS", "/public/x", preflightHeaders("GET"), 204, "", "public", true},
		{"preflight for a method the route lists not", "OPTIONS", "/api/orders/1", preflightHeaders("PUT"), 404, "no_route", "", false},
		{"OPTIONS without Access-Control-Request-Method", "OPTIONS", "/open/x", []string{"Origin", spaOrigin}, 401, "no_credentials", "open", false},
		{"DELETE with the preflight headers", "DELETE", "/api/orders/1", preflightHeaders("DELETE"), 401, "no_credentials", "api", false},
		{"preflight on a route without the key", "OPTIONS", "/plain/x", preflightHeaders("GET"), 401, "no_credentials", "plain", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, newRequest(t, tt.method, srv.URL+tt.path, tt.header...))
			if r.StatusCode != tt.status {
				t.Fatalf("gateway status = %d, want %d", r.StatusCode, tt.status)
			}
			e := g.Explain(newRequest(t, tt.method, srv.URL+tt.path, tt.header...))
			// Explain reports the gateway's decision (200 allow); the 204
			// is the upstream's answer to the preflight it was given.
			want := tt.status
			if want == http.StatusNoContent {
				want = http.StatusOK
			}
			if e.Status != want {
				t.Errorf("explain status = %d, want %d (the gateway answered %d)", e.Status, want, tt.status)
			}
			if e.Reason != tt.reason {
				t.Errorf("explain reason = %q, want %q", e.Reason, tt.reason)
			}
			if (e.Route == nil) != (tt.route == "") || e.Route != nil && e.Route.Name != tt.route {
				t.Fatalf("explain route = %+v, want %q", e.Route, tt.route)
			}
			passes := len(e.Credential.Checks) == 1 && e.Credential.Checks[0].Name == "preflight" && e.Credential.Checks[0].OK
			if passes != tt.preflight {
				t.Errorf("checks = %+v, want a passed preflight check: %v", e.Credential.Checks, tt.preflight)
			}
			if tt.preflight && (e.Principal != nil || e.Credential.Kind != "none" || !e.Route.SkipAuthPreflight) {
				t.Errorf("preflight explained with principal %+v, kind %q, route %+v; want none, none, skip_auth_preflight", e.Principal, e.Credential.Kind, e.Route)
			}
		})
	}
}

// TestExplainPreflightRateLimit: on a per subject route, explain names the
// client address's preflight bucket that authorize spends.
func TestExplainPreflightRateLimit(t *testing.T) {
	up := newUpstream(t)
	c := route("by-subject", "/subject/", "token", up.URL)
	c.SkipAuthPreflight = true
	c.RateLimit = &gateway.RateLimitConfig{Per: "subject", Rate: 1, Window: duration.Duration(time.Hour)}
	g, srv := serve(t, []config.Route{c}, deps())
	e := g.Explain(newRequest(t, "OPTIONS", srv.URL+"/subject/x", preflightHeaders("GET")...))
	if e.Status != 200 || e.RateLimit == nil || e.RateLimit.Bucket != "by-subject:preflight:<client address>" {
		t.Errorf("explain = %d, rate_limit %+v; want 200 and the preflight bucket", e.Status, e.RateLimit)
	}
}
