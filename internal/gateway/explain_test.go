package gateway_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/gateway"
)

// TestExplainGivesTheGatewaysReason sends every denial class of the policy
// matrix through the gateway, reads the reason=… of its denial log line,
// and asks Explain about the same request: the outcome, status and reason
// must be the gateway's own (issue 16: explain is the same code path).
func TestExplainGivesTheGatewaysReason(t *testing.T) {
	up := newUpstream(t)
	var logs syncBuffer
	d := deps()
	d.Logger = slogText(&logs)
	// mfa needs a second factor: a credential without one is refused with
	// 401 insufficient_user_authentication (outcome step_up), which Explain
	// must report too.
	mfa := route("mfa", "/mfa/", "any", up.URL, "user")
	mfa.MFA = true
	routes := []config.Route{
		route("none", "/none/", "none", up.URL),
		route("session", "/session/", "session", up.URL, "user"),
		route("token", "/token/", "token", up.URL, "user"),
		route("any", "/any/", "any", up.URL, "user"),
		mfa,
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
		{"session store down", sessionCred("down")},
		{"revocation store down", tokenCred("down")},
	}
	reasonRE := regexp.MustCompile(`reason=(\S+)`)
	for _, c := range creds {
		for _, rt := range []string{"none", "session", "token", "any", "mfa"} {
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
