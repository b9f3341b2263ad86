package admin_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// parityRoutes covers hosts (exact, wildcard, none), path prefixes,
// methods (GET answering HEAD, TRACE), every auth kind, roles, mfa: true,
// scopes, a rate limit and forward: jwt.
func parityRoutes(up string) []config.Route {
	return []config.Route{
		{Name: "open", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up, Auth: "none"},
		{Name: "app", Match: config.RouteMatch{Host: "app.example.com", PathPrefix: "/"}, Upstream: up, Auth: "session"},
		{Name: "tenant", Match: config.RouteMatch{Host: "*.tenants.example.com", PathPrefix: "/api/"}, Upstream: up, Auth: "any", Roles: []string{"user"}},
		{Name: "orders", Match: config.RouteMatch{PathPrefix: "/api/orders/", Methods: []string{"GET", "POST"}}, Upstream: up, Auth: "token", Roles: []string{"user"}},
		{Name: "trace", Match: config.RouteMatch{PathPrefix: "/debug/", Methods: []string{"TRACE"}}, Upstream: up, Auth: "token"},
		{Name: "ops", Match: config.RouteMatch{PathPrefix: "/ops/"}, Upstream: up, Auth: "any", Roles: []string{"ops"}},
		{Name: "secure", Match: config.RouteMatch{PathPrefix: "/secure/"}, Upstream: up, Auth: "any", MFA: true},
		{Name: "limited", Match: config.RouteMatch{PathPrefix: "/limited/"}, Upstream: up, Auth: "token",
			RateLimit: &gateway.RateLimitConfig{Per: "subject", Rate: 1000, Burst: 1000, Window: config.Duration(time.Minute)}},
		{Name: "signed", Match: config.RouteMatch{PathPrefix: "/signed/"}, Upstream: up, Auth: "token", Forward: "jwt"},
		{Name: "scoped", Match: config.RouteMatch{PathPrefix: "/scoped/"}, Upstream: up, Auth: "any", Scopes: []string{"orders:read"}},
	}
}

// TestExplainMatchesTheGateway sends every pair of request and credential
// through the running gateway and asks POST /admin/api/v1/explain about the
// same request: the status must be the gateway's (contract §11), and the
// explanation must never contain the credential.
func TestExplainMatchesTheGateway(t *testing.T) {
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) { c.Routes = parityRoutes(up.URL) }))
	ctx := context.Background()

	// An expired token: issued for a second, then the clock moves past
	// its expiry and the leeway. Every other credential is made after.
	alice, err := e.App.Users.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := e.App.Issuer.Issue(token.Subject{UserID: alice.ID, Username: alice.Username, Roles: alice.Roles, ClientID: "gatehouse"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	session, tok := e.login(t, "alice"), e.token(t, "alice")
	revoked := e.token(t, "alice")
	if r, body := e.do(t, "POST", "/auth/revoke", url.Values{"token": {revoked}}.Encode(), "Content-Type", "application/x-www-form-urlencoded"); r.StatusCode != 200 {
		t.Fatalf("revoke = %d %s", r.StatusCode, body)
	}
	e.CreateUser(t, "dave", pw, "user", "ops")
	disabled := e.token(t, "dave")
	if r, body := e.do(t, "POST", "/admin/api/v1/users/dave/disable", "", bearer(e.rootToken)...); r.StatusCode != 200 {
		t.Fatalf("disable = %d %s", r.StatusCode, body)
	}
	mfa := e.mfaToken(t, "alice")

	creds := []struct {
		name    string
		headers map[string]string
		secret  string
	}{
		{"none", nil, ""},
		{"session", map[string]string{"Cookie": e.cookieName + "=" + session}, session},
		{"token", map[string]string{"Authorization": "Bearer " + tok}, tok},
		{"expired token", map[string]string{"Authorization": "Bearer " + expired}, expired},
		{"revoked token", map[string]string{"Authorization": "Bearer " + revoked}, revoked},
		{"disabled user's token", map[string]string{"Authorization": "Bearer " + disabled}, disabled},
		{"token with mfa", map[string]string{"Authorization": "Bearer " + mfa}, mfa},
	}
	// CORS preflight headers, as a browser sends them (gateway.IsPreflight).
	preflight := map[string]string{"Origin": "https://spa.example.com", "Access-Control-Request-Method": "POST"}
	requests := []struct {
		name, method, target, host string
		headers                    map[string]string
	}{
		{"public", "GET", "/x", "", nil},
		{"exact host", "GET", "/x", "app.example.com", nil},
		{"exact host with port and case", "POST", "/x", "APP.example.com:8443", nil},
		{"wildcard host", "GET", "/api/x", "a.tenants.example.com", nil},
		{"wildcard host, other path", "GET", "/else", "a.tenants.example.com", nil},
		{"two labels under a wildcard", "GET", "/api/x", "a.b.tenants.example.com", nil},
		{"orders GET", "GET", "/api/orders/1", "", nil},
		{"orders HEAD", "HEAD", "/api/orders/1", "", nil},
		{"orders DELETE", "DELETE", "/api/orders/1", "", nil},
		{"TRACE on a route listing it", "TRACE", "/debug/x", "", nil},
		{"TRACE on a route without methods", "TRACE", "/ops/x", "", nil},
		{"ops role", "GET", "/ops/x", "", nil},
		{"mfa route", "GET", "/secure/x", "", nil},
		{"rate limited route", "GET", "/limited/x", "", nil},
		{"forward jwt", "GET", "/signed/x", "", nil},
		{"scopes", "GET", "/scoped/x", "", nil},
		{"dot segments", "GET", "/api/orders/../../ops/x", "", nil},
		{"repeated slashes", "GET", "//ops//x", "", nil},
		{"authority-like path", "GET", "//app.example.com/ops/x", "", nil},
		{"encoded slash", "GET", "/ops%2Fx", "", nil},
		{"encoded dot segment", "GET", "/api/orders/%2e%2e/%2e%2e/ops/x", "", nil},
		{"dot segment with parameters", "GET", "/api/..;/ops/x", "", nil},
		{"absolute-form target", "GET", "http://app.example.com/x", "", nil},
		{"absolute-form target overriding Host", "GET", "http://app.example.com/x", "other.example.com", nil},
		// gatehouse's own endpoints under the "/" route (and the
		// exact-host route): the server answers them itself.
		{"login page", "GET", "/login", "", nil},
		{"login page on a host route", "GET", "/login", "app.example.com", nil},
		{"token endpoint", "POST", "/auth/token", "", nil},
		{"token endpoint, wrong method", "GET", "/auth/token", "", nil},
		{"account page", "GET", "/account", "", nil},
		{"passkey script", "GET", "/static/webauthn.js", "", nil},
		{"static, no such file", "GET", "/static/other.js", "", nil},
		{"discovery", "GET", "/.well-known/openid-configuration", "", nil},
		{"health", "GET", "/healthz", "", nil},
		{"admin console", "GET", "/admin/", "", nil},
		{"admin console without its slash", "GET", "/admin", "", nil},
		{"under /auth/verify", "GET", "/auth/verify/x", "", nil},
		// An OPTIONS request to an endpoint with CORS: the routing
		// decides, so explain must say the status — 405 with Allow unless
		// it is a preflight (204).
		{"token endpoint, plain OPTIONS", "OPTIONS", "/auth/token", "", nil},
		{"token endpoint, OPTIONS with Origin only", "OPTIONS", "/auth/token", "", map[string]string{"Origin": "https://spa.example.com"}},
		{"token endpoint, OPTIONS without Origin", "OPTIONS", "/auth/token", "", map[string]string{"Access-Control-Request-Method": "POST"}},
		{"token endpoint, preflight", "OPTIONS", "/auth/token", "", preflight},
		{"userinfo, plain OPTIONS", "OPTIONS", "/auth/userinfo", "", nil},
		{"userinfo, preflight", "OPTIONS", "/auth/userinfo", "", preflight},
		{"JWKS, plain OPTIONS", "OPTIONS", "/.well-known/jwks.json", "", nil},
		{"discovery, preflight", "OPTIONS", "/.well-known/openid-configuration", "", preflight},
		{"login, preflight (no CORS: 405)", "OPTIONS", "/auth/login", "", preflight},
	}
	for _, rq := range requests {
		for _, cr := range creds {
			t.Run(rq.name+"/"+cr.name, func(t *testing.T) {
				seen := up.Count()
				headers := map[string]string{}
				for k, v := range rq.headers {
					headers[k] = v
				}
				for k, v := range cr.headers {
					headers[k] = v
				}
				want := testutil.RawStatus(t, e.URL, rq.method, rq.target, rq.host, headers)
				proxied := up.Count() > seen
				if rq.host != "" {
					headers["Host"] = rq.host
				}
				got, out := e.explain(t, map[string]any{"method": rq.method, "url": rq.target, "headers": headers})
				// An own endpoint's handler decides its status (explain
				// says 0), except an OPTIONS request, whose answer (405 or a
				// preflight's 204) the routing gives; everything else is
				// the routing's or the gateway's.
				if got.Status != want && !(got.ServedBy == "gatehouse" && got.Status == 0 && rq.method != "OPTIONS") {
					t.Errorf("explain status %d (%s %s), server %d\n%s", got.Status, got.Outcome, got.Reason, want, out)
				}
				if explained := got.ServedBy == "gateway" && got.Outcome == "allow"; explained != proxied {
					t.Errorf("explain says proxied=%v (served_by %q, outcome %s), the upstream got it: %v\n%s", explained, got.ServedBy, got.Outcome, proxied, out)
				}
				if (got.ServedBy == "gatehouse") != (got.Endpoint != nil && got.Route == nil) {
					t.Errorf("served_by %q with endpoint %+v and route %+v", got.ServedBy, got.Endpoint, got.Route)
				}
				if cr.secret != "" && strings.Contains(out, cr.secret) {
					t.Errorf("explain echoed the credential: %s", out)
				}
			})
		}
	}
	// A target that net/http's server (or the gateway: an opaque target)
	// refuses with 400 is refused by explain with 400 too.
	for _, target := range []string{"example.com/ops/x", "ops/x", "", "/ops/x\x00", "a:ops/x"} {
		t.Run("unparsable "+target, func(t *testing.T) {
			if target != "" {
				if got := testutil.RawStatus(t, e.URL, "GET", target, "", nil); got != 400 {
					t.Fatalf("the server answered %d, want 400", got)
				}
			}
			body, _ := json.Marshal(map[string]any{"method": "GET", "url": target})
			if r, out := e.do(t, "POST", "/admin/api/v1/explain", string(body), append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...); r.StatusCode != 400 {
				t.Errorf("explain = %d %s, want 400", r.StatusCode, out)
			}
		})
	}
}

// Explain names a route's scopes and, for a token without them, the
// failed scopes check with the reason the gateway logs; a session on an
// auth: any route passes it unchecked.
func TestExplainShowsScopes(t *testing.T) {
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) { c.Routes = parityRoutes(up.URL) }))
	session, tok := e.login(t, "alice"), e.token(t, "alice") // the built-in client's token has no scopes
	for _, tt := range []struct {
		name    string
		headers map[string]string
		outcome string
		check   gateway.Check
	}{
		{"token without the scope", map[string]string{"Authorization": "Bearer " + tok}, "forbidden",
			gateway.Check{Name: "scopes", OK: false, Detail: `needs all of [orders:read], the token's scope is ""`}},
		{"session", map[string]string{"Cookie": e.cookieName + "=" + session}, "allow",
			gateway.Check{Name: "scopes", OK: true, Detail: "not checked: a session is the user's own login and carries no scopes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := e.explain(t, map[string]any{"method": "GET", "url": "/scoped/x", "headers": tt.headers})
			if got.Route == nil || len(got.Route.Scopes) != 1 || got.Route.Scopes[0] != "orders:read" {
				t.Errorf("route = %+v, want scopes [orders:read]", got.Route)
			}
			if got.Outcome != tt.outcome {
				t.Errorf("outcome = %s (%s), want %s", got.Outcome, got.Reason, tt.outcome)
			}
			if tt.outcome == "forbidden" && got.Reason != "insufficient_scope" {
				t.Errorf("reason = %q, want insufficient_scope", got.Reason)
			}
			if cs := got.Credential.Checks; len(cs) == 0 || cs[len(cs)-1] != tt.check {
				t.Errorf("checks = %+v, want the last %+v", cs, tt.check)
			}
		})
	}
}

// explain asks POST /admin/api/v1/explain, as root, about the request req
// describes and returns the answer (200) decoded and as sent.
func (e *env) explain(t *testing.T, req map[string]any) (gateway.Explanation, string) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, out := e.do(t, "POST", "/admin/api/v1/explain", string(body), append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
	if r.StatusCode != 200 {
		t.Fatalf("explain = %d %s", r.StatusCode, out)
	}
	var got gateway.Explanation
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	return got, out
}
