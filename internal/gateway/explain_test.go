package gateway_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestExplainGivesTheGatewaysReason sends every denial class of the policy
// matrix through the gateway, reads the reason=… of its denial log line,
// and asks Explain about the same request: the outcome, status and reason
// must be the gateway's own (issue 16: explain is the same code path).
func TestExplainGivesTheGatewaysReason(t *testing.T) {
	up := newUpstream(t)
	var logs testutil.SyncBuffer
	d := deps()
	d.Logger = slogText(&logs)
	// mfa needs a second factor: a credential without one is refused with
	// 401 insufficient_user_authentication (outcome step_up), which Explain
	// must report too.
	mfa := route("mfa", "/mfa/", "any", up.URL, "user")
	mfa.MFA = true
	// scoped needs a token with orders:read; sessions pass unasked.
	scoped := route("scoped", "/scoped/", "any", up.URL, "user")
	scoped.Scopes = []string{"orders:read"}
	routes := []config.Route{
		route("none", "/none/", "none", up.URL),
		route("session", "/session/", "session", up.URL, "user"),
		route("token", "/token/", "token", up.URL, "user"),
		route("any", "/any/", "any", up.URL, "user"),
		mfa,
		scoped,
	}
	g, srv := serve(t, routes, d)
	creds := []credential{
		{"nothing", nil},
		{"valid session", sessionCred("alice")},
		{"valid token", tokenCred("alice")},
		{"second-factor session", sessionCred("second")},
		{"second-factor token", tokenCred("second")},
		{"two Authorization headers", append(tokenCred("alice"), tokenCred("alice")...)},
		{"two session cookies", []string{"Cookie", cookieName + "=sess-alice; " + cookieName + "=sess-alice"}},
		{"expired session", sessionCred("expired")},
		{"revoked session", sessionCred("revoked")},
		{"unknown session", sessionCred("nobody")},
		{"expired token", tokenCred("expired")},
		{"revoked token", tokenCred("revoked")},
		{"garbage token", []string{"Authorization", "Bearer not-a-token"}},
		{"malformed bearer", []string{"Authorization", "Bearer a b"}},
		{"basic credentials", []string{"Authorization", "Basic YWxpY2U6cHc="}},
		{"session with wrong role", sessionCred("guest")},
		{"token with wrong role", tokenCred("guest")},
		{"token with a scope", tokenCred("scoped")},
		{"session store down", sessionCred("down")},
		{"revocation store down", tokenCred("down")},
	}
	reasonRE := regexp.MustCompile(`reason=(\S+)`)
	for _, c := range creds {
		for _, rt := range []string{"none", "session", "token", "any", "mfa", "scoped"} {
			for _, method := range []string{"GET", "POST"} {
				t.Run(c.name+"/"+rt+"/"+method, func(t *testing.T) {
					hdr := c.header
					if method == "POST" {
						hdr = append([]string{"Sec-Fetch-Site", "cross-site"}, hdr...)
					}
					before := len(logs.String())
					r := do(t, newRequest(t, method, srv.URL+"/"+rt+"/x", hdr...))
					wantReason := ""
					if m := reasonRE.FindStringSubmatch(logs.String()[before:]); m != nil {
						wantReason = m[1]
					}
					e := g.Explain(newRequest(t, method, srv.URL+"/"+rt+"/x", hdr...))
					if e.Status != r.StatusCode {
						t.Errorf("explain status = %d, gateway answered %d", e.Status, r.StatusCode)
					}
					if e.Reason != wantReason {
						t.Errorf("explain reason = %q, gateway logged %q", e.Reason, wantReason)
					}
					if e.Route == nil || e.Route.Name != rt {
						t.Errorf("explain route = %+v, want %s", e.Route, rt)
					}
					if r.StatusCode != 200 && rt != "none" {
						last := e.Credential.Checks[len(e.Credential.Checks)-1]
						if last.OK {
							t.Errorf("denied, but the last check %q passed: %+v", last.Name, e.Credential.Checks)
						}
					}
					if rt == "mfa" && r.StatusCode == 200 && !slices.Contains(e.Credential.Checks, gateway.Check{Name: "mfa", OK: true}) {
						t.Errorf("allowed on an mfa route without a passed mfa check: %+v", e.Credential.Checks)
					}
				})
			}
		}
	}
}

func TestExplainRefusedPathsAndNoRoute(t *testing.T) {
	up := newUpstream(t)
	g, _ := serve(t, []config.Route{route("app", "/app/", "session", up.URL)}, deps())
	tests := []struct {
		name, target string
		status       int
		reason, path string
	}{
		{"no route", "http://x/other", 404, "no_route", "/other"},
		{"encoded slash", "http://x/app%2f..%2fx", 400, "bad_path", ""},
		{"normalised before matching", "http://x/nope/../app//y", 401, "no_credentials", "/app/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := g.Explain(newRequest(t, "GET", tt.target))
			if e.Status != tt.status || e.Reason != tt.reason || e.Path != tt.path {
				t.Errorf("Explain = status %d reason %q path %q, want %d %q %q", e.Status, e.Reason, e.Path, tt.status, tt.reason, tt.path)
			}
		})
	}
}

// TestExplainRateLimit asks Explain about routes with a rate_limit: it names
// the bucket and its policy, never spends a token (the gateway still allows
// the whole burst after many explanations), and once the gateway has
// emptied the bucket it says rate_limited with the gateway's 429.
func TestExplainRateLimit(t *testing.T) {
	up := newUpstream(t)
	routes := []config.Route{
		limitedRoute("shared", "/shared/", "none", up.URL, "route", 2),
		limitedRoute("peruser", "/user/", "token", up.URL, "subject", 2),
		limitedRoute("perip", "/ip/", "none", up.URL, "ip", 2),
		route("free", "/free/", "none", up.URL),
	}
	g, srv := serve(t, routes, deps())
	tests := []struct {
		name, path string
		header     []string
		per        string
		bucket     string
		known      bool // the bucket is looked at: remaining and 429 follow
	}{
		{"per route", "/shared/x", nil, "route", "shared:route", true},
		{"per subject, verified", "/user/x", tokenCred("alice"), "subject", "peruser:subject:u-alice", true},
		{"per subject, no credential", "/user/x", nil, "subject", "peruser:subject:<subject>", false},
		{"per ip: a described request has no peer address", "/ip/x", nil, "ip", "perip:ip:<client address>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			explain := func() gateway.Explanation {
				t.Helper()
				e := g.Explain(newRequest(t, "GET", srv.URL+tt.path, tt.header...))
				rl := e.RateLimit
				if rl == nil || rl.Per != tt.per || rl.Bucket != tt.bucket || rl.Rate != 1 || rl.Burst != 2 || rl.Window != "1h0m0s" {
					t.Fatalf("rate_limit = %+v, want per %s bucket %s rate 1 burst 2 window 1h", rl, tt.per, tt.bucket)
				}
				if (rl.Remaining != nil) != tt.known {
					t.Fatalf("remaining = %v, want it shown: %v", rl.Remaining, tt.known)
				}
				return e
			}
			for range 5 {
				if e := explain(); tt.known && *e.RateLimit.Remaining != 2 {
					t.Fatalf("remaining = %d before any request, want 2", *e.RateLimit.Remaining)
				}
			}
			for i := range 2 {
				if r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...)); r.StatusCode == 429 {
					t.Fatalf("request %d refused after explanations: explain spent tokens", i+1)
				}
			}
			r := do(t, newRequest(t, "GET", srv.URL+tt.path, tt.header...))
			e := explain()
			if tt.known {
				if r.StatusCode != 429 || e.Status != 429 || e.Reason != "rate_limited" || *e.RateLimit.Remaining != 0 {
					t.Errorf("gateway %d; explain %d %q remaining %d, want 429 rate_limited 0", r.StatusCode, e.Status, e.Reason, *e.RateLimit.Remaining)
				}
			}
		})
	}
	if e := g.Explain(newRequest(t, "GET", srv.URL+"/free/x")); e.RateLimit != nil {
		t.Errorf("a route without rate_limit explained with %+v", e.RateLimit)
	}
}

// TestExplainNamesTheHostRoutes: the explanation says which routes judged
// the request: a path without a host is judged by the routes without
// match.host, and says so.
func TestExplainNamesTheHostRoutes(t *testing.T) {
	up := newUpstream(t)
	app := route("app", "/", "none", up.URL)
	app.Match.Host = "app.example.com"
	tenant := route("tenant", "/", "none", up.URL)
	tenant.Match.Host = "*.tenants.example.com"
	g, _ := serve(t, []config.Route{route("any", "/", "none", up.URL), app, tenant}, deps())
	tests := []struct{ host, wantHost, wantRoutes, wantRoute string }{
		{"", "", "hostless", "any"},
		{"App.Example.com:8443", "app.example.com", "exact", "app"},
		{"a.tenants.example.com", "a.tenants.example.com", "wildcard", "tenant"},
		{"other.example.com", "other.example.com", "hostless", "any"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			r := newRequest(t, "GET", "/x")
			r.Host = tt.host
			e := g.Explain(r)
			if e.Host != tt.wantHost || e.HostRoutes != tt.wantRoutes || e.Route == nil || e.Route.Name != tt.wantRoute || e.ServedBy != "gateway" {
				t.Errorf("host %q host_routes %q route %+v served_by %q, want %q %q %s gateway", e.Host, e.HostRoutes, e.Route, e.ServedBy, tt.wantHost, tt.wantRoutes, tt.wantRoute)
			}
		})
	}
}
