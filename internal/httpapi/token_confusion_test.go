package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
)

// TestNoIDTokenCarriesAJWTRoutesName: an ID token's aud is its client's
// client_id, and it has gatehouse's issuer and keys. For a client whose
// client_id is the name of a forward: jwt route (stored before the route
// was made one, by a reload or an older version), that ID token would pass
// at the route's upstream, which checks iss, aud = its route name and the
// signature (docs/gateway.md), as an internal JWT the gateway vouched for —
// for the user the app signed in, replayed straight to the upstream by the
// app. The token endpoint refuses to issue it (400 invalid_request), as it
// refuses an access token with such an aud; the route's own internal JWTs
// are still sent.
func TestNoIDTokenCarriesAJWTRoutesName(t *testing.T) {
	up := newUpstream(t)
	g := startApps(t)
	g.CreateUser(t, "alice", strongPassword)
	b := browser(t, g, "alice")

	// "other" (first-party, openid) becomes the name of a forward: jwt route.
	routes := append(slices.Clone(g.Config.Routes), config.Route{Name: "other", Match: config.RouteMatch{PathPrefix: "/other/"},
		Upstream: up.URL, Auth: "any", Forward: "jwt", Timeout: config.Duration(5 * time.Second)})
	if err := g.App.ReloadRoutes(routes); err != nil {
		t.Fatalf("ReloadRoutes: %v", err)
	}

	verifier := oauth2.GenerateVerifier()
	code := codeFor(t, g, b, "other", webCB, verifier, "openid")
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB},
		"code_verifier": {verifier}}, "other", otherSec)
	if idt, ok := m["id_token"].(string); ok {
		t.Errorf("code exchange of client %q = %d with an ID token of aud %v: it passes for the internal JWT of route %q",
			"other", resp.StatusCode, jwtPart(t, idt, 1)["aud"], "other")
	}
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_request" || m["error_description"] == nil || m["access_token"] != nil {
		t.Errorf("code exchange of a client named as a forward: jwt route = %d %v (access token: %t), want 400 invalid_request saying why, no token",
			resp.StatusCode, m["error"], m["access_token"] != nil)
	}

	// The route's own internal JWT is still minted and sent.
	if resp, _ := do(t, b, "GET", g.URL+"/other/x", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("forward: jwt route with a session = %d", resp.StatusCode)
	}
	internal := strings.TrimPrefix(up.seen().Header.Get("Authorization"), "Bearer ")
	if aud := anyStrings(jwtPart(t, internal, 1)["aud"]); !slices.Equal(aud, []string{"other"}) {
		t.Errorf("internal JWT aud = %v, want [other]", aud)
	}
}
