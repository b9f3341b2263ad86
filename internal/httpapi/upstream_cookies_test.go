package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestOIDCStateCookieNeverReachesAnUpstream: the state cookie of a "Sign in
// with" login (nonce, PKCE verifier, sealed) is gatehouse's own. With secure
// cookies it is a __Host- cookie with Path=/, so the browser sends it on
// every request to the host, and without them a path under /auth/oidc/
// that no endpoint has goes to the gateway's "/" route: the gateway must
// strip it as it strips the session cookie, keeping the other cookies.
func TestOIDCStateCookieNeverReachesAnUpstream(t *testing.T) {
	for _, secure := range []string{"true", "false"} {
		t.Run("secure "+secure, func(t *testing.T) {
			op := oidctestop.Start(t)
			up := newUpstream(t)
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				c.Sessions.Cookie.Secure = secure
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
					ClientSecret: op.ClientSecret(), CreateUsers: true}}
				c.Routes = []config.Route{{Name: "public", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up.URL,
					Auth: "none", Timeout: config.Duration(5 * time.Second)}}
			}))
			op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")
			resp, _ := do(t, testutil.Client(t), "GET", g.URL+"/auth/oidc/corp/start?next=/home", "")
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("start = %d, want 302", resp.StatusCode)
			}
			var state *http.Cookie
			for _, ck := range resp.Cookies() {
				state = ck
			}
			if state == nil {
				t.Fatalf("start set no state cookie: %q", resp.Header.Values("Set-Cookie"))
			}
			assertCookieStripped(t, g, up, state, "/home", "/auth/oidc/corp/no-such-endpoint")
		})
	}
}

// TestWebAuthnCeremonyCookieNeverReachesAnUpstream: the gatehouse_webauthn
// cookie of a passkey ceremony (Path=/auth/webauthn/) is gatehouse's own,
// and a path under /auth/webauthn/ that no endpoint has goes to the
// gateway's "/" route.
func TestWebAuthnCeremonyCookieNeverReachesAnUpstream(t *testing.T) {
	up := newUpstream(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		c.Routes = []config.Route{{Name: "public", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up.URL,
			Auth: "none", Timeout: config.Duration(5 * time.Second)}}
	})
	resp, body := postJSON(t, testutil.Client(t), g.URL+"/auth/webauthn/login/begin", map[string]any{})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("begin = %d %s", resp.StatusCode, body)
	}
	assertCookieStripped(t, g, up, sessionCookie(t, resp, "gatehouse_webauthn"), "/auth/webauthn/no/such/endpoint", "/auth/webauthn/login/begin/x")
}

// assertCookieStripped sends private, between two other cookies, to each
// path of g (a "/" route to up) and checks that up got only the other two.
func assertCookieStripped(t *testing.T, g *testutil.Instance, up *upstream, private *http.Cookie, paths ...string) {
	t.Helper()
	for _, path := range paths {
		req, err := http.NewRequest(http.MethodGet, g.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", "theme=dark; "+private.Name+"="+private.Value+"; lang=en")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		seen := up.seen()
		if seen == nil {
			t.Fatalf("GET %s = %d, did not reach the upstream", path, resp.StatusCode)
		}
		if got, want := seen.Header.Values("Cookie"), []string{"theme=dark; lang=en"}; !slices.Equal(got, want) {
			t.Errorf("GET %s: upstream Cookie = %q, want %q (no %s)", path, got, want, private.Name)
		}
	}
}
