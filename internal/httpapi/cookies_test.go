package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestPendingCookieNeverReachesAnUpstream: the gatehouse_mfa cookie of a
// login between its steps is a credential (with an enrolment pending it
// lets its holder enrol a TOTP key and earn the session), so a browser must
// not send it along to the applications behind the gateway, as it does not
// send the session cookie. Before, it had Path=/ and rode on every gateway
// request: an application behind an auth: none route could replay it.
func TestPendingCookieNeverReachesAnUpstream(t *testing.T) {
	up := newUpstream(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.Login.RequireMFARoles = []string{"admin"}
		c.Routes = []config.Route{
			{Name: "public", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: up.URL, Auth: "none"},
			{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"},
		}
	})
	g.CreateUser(t, "root", strongPassword, "admin")
	c, m := pendingLogin(t, g, "root")
	if m["enrolment_required"] != true {
		t.Fatalf("password step = %v, want enrolment_required", m)
	}
	// Paths of the applications, and paths under gatehouse's own that no
	// endpoint has, which the gateway sends to the "/" route.
	for _, p := range []string{"/", "/home", "/app/x", "/loginx", "/authority", "/auth/no-such-endpoint", "/login/mfa/x"} {
		resp, err := c.Get(g.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		seen := up.seen()
		if seen == nil {
			continue // refused before the upstream (a session route)
		}
		if got := seen.Header.Values("Cookie"); strings.Contains(strings.Join(got, ";"), "gatehouse_mfa") {
			t.Errorf("GET %s (%d): the upstream got Cookie %q, want no gatehouse_mfa", p, resp.StatusCode, got)
		}
	}
	// The login still finishes: the enrolment endpoints and the second-step
	// page get the cookie.
	if resp, body := do(t, c, "GET", g.URL+"/login/mfa", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "<form") {
		t.Fatalf("GET /login/mfa with the pending cookie = %d, want the enrolment page", resp.StatusCode)
	}
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol with the pending cookie = %d %s", resp.StatusCode, body)
	}
	secret := decode(t, body)["secret"].(string)
	if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/auth/session after enrolment = %d %s", resp.StatusCode, body)
	}
	// The finished login cleared every copy of the pending cookie.
	for _, p := range []string{"/auth/session", "/login/mfa"} {
		u := mustURL(t, g.URL+p)
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "gatehouse_mfa" {
				t.Errorf("the browser still sends gatehouse_mfa to %s after the login finished", p)
			}
		}
	}
}

// TestSessionCookieAttributes: contract §3. The cookie is HttpOnly, Path=/,
// SameSite as configured, and Secure with the __Host- prefix when secure is
// true, or auto with an https public_url (TLS ended by a proxy in front, so
// the request itself arrives over plain HTTP). A URL scheme is
// case-insensitive (RFC 3986 §3.1): config check accepts HTTPS://, and
// so must the secure: auto rule.
func TestSessionCookieAttributes(t *testing.T) {
	tests := []struct {
		name       string
		publicURL  string
		secure     string
		sameSite   string
		wantName   string
		wantSecure bool
		wantSite   http.SameSite
	}{
		{"plain http", "", "auto", "lax", "gatehouse", false, http.SameSiteLaxMode},
		{"https public_url behind a proxy", "https://auth.example.com", "auto", "lax", "__Host-gatehouse", true, http.SameSiteLaxMode},
		{"upper-case HTTPS public_url", "HTTPS://auth.example.com", "auto", "lax", "__Host-gatehouse", true, http.SameSiteLaxMode},
		{"secure: true over http", "", "true", "strict", "__Host-gatehouse", true, http.SameSiteStrictMode},
		{"secure: false with https", "https://auth.example.com", "false", "lax", "gatehouse", false, http.SameSiteLaxMode},
		{"same_site none", "https://auth.example.com", "auto", "none", "__Host-gatehouse", true, http.SameSiteNoneMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				c.PublicURL = tt.publicURL
				c.Sessions.Cookie.Secure = tt.secure
				c.Sessions.Cookie.SameSite = tt.sameSite
			}))
			g.CreateUser(t, "alice", strongPassword)
			resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("login = %d %s", resp.StatusCode, body)
			}
			ck := sessionCookie(t, resp, tt.wantName)
			if ck.Secure != tt.wantSecure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" || ck.SameSite != tt.wantSite {
				t.Errorf("Set-Cookie %q: want Secure=%v HttpOnly Path=/ no Domain SameSite=%v", resp.Header.Values("Set-Cookie"), tt.wantSecure, tt.wantSite)
			}
			if len(ck.Value) < 43 {
				t.Errorf("cookie value has %d characters, want at least 43 (256 bits, base64url)", len(ck.Value))
			}
		})
	}
}

// TestLoginEndsAPendingLogin: a login that starts a session ends the
// pending second step the browser had (the gatehouse_mfa cookie), as a
// second password step replaces it. Before, a left-over pending login of
// alice outlived bob's password login in the same browser for its 5
// minutes and took precedence over bob's session: bob could not enrol a
// factor (401) and /login/mfa asked for alice's code.
func TestLoginEndsAPendingLogin(t *testing.T) {
	g, _ := oidcMFAInstance(t, []string{"user"})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	enrolTOTP(t, g, "alice")
	logins := []struct {
		name  string
		login func(c *http.Client) *http.Response
	}{
		{"password", func(c *http.Client) *http.Response {
			resp, _ := loginJSON(t, c, g.URL, "bob", strongPassword)
			return resp
		}},
		{"OIDC", func(c *http.Client) *http.Response { return oidcLoginTo(t, g, c, "/account") }},
	}
	for _, l := range logins {
		t.Run(l.name, func(t *testing.T) {
			c, _ := pendingLogin(t, g, "alice")
			if resp := l.login(c); !hasSessionCookie(g, resp) {
				t.Fatalf("the %s login = %d, set no session cookie", l.name, resp.StatusCode)
			}
			for _, p := range []string{"/auth/session", "/login/mfa"} {
				for _, ck := range c.Jar.Cookies(mustURL(t, g.URL+p)) {
					if ck.Name == "gatehouse_mfa" {
						t.Errorf("after the %s login the browser still sends alice's gatehouse_mfa to %s", l.name, p)
					}
				}
			}
			if resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
				t.Errorf("enrolling TOTP right after the %s login = %d %s, want 200", l.name, resp.StatusCode, body)
			}
		})
	}
}

// TestCrossOriginCookieRequests: contract §3, state-changing requests
// authenticated by the cookie are refused (403) when cross-origin, on
// gatehouse's endpoints and on gateway routes. A sibling subdomain is
// same-site but another origin: refused too. X-Forwarded-Host, even from a
// trusted proxy (the test client is on loopback), does not change which
// origin is "same": Origin is judged against Host.
func TestCrossOriginCookieRequests(t *testing.T) {
	up := newUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
	}))
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	self := g.URL
	host := strings.TrimPrefix(self, "http://")
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"foreign Origin", []string{"Origin", "https://evil.example"}, 403},
		{"cross-site fetch metadata, no Origin", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"Origin null", []string{"Origin", "null"}, 403},
		{"sibling subdomain (same-site)", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://app." + host}, 403},
		{"sibling subdomain Origin, old browser", []string{"Origin", "http://app." + host}, 403},
		{"foreign Origin with X-Forwarded-Host of it", []string{"Origin", "https://evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https"}, 403},
		{"same origin", []string{"Origin", self, "Sec-Fetch-Site", "same-origin"}, 200},
		{"no browser headers", nil, 200},
	}
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, tt := range tests {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				req, err := http.NewRequest(method, g.URL+"/app/x", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i+1 < len(tt.header); i += 2 {
					req.Header.Set(tt.header[i], tt.header[i+1])
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				testutil.ReadBody(t, resp)
				if resp.StatusCode != tt.want {
					t.Errorf("%s /app/x = %d, want %d", method, resp.StatusCode, tt.want)
				}
			})
		}
	}
	// Safe methods stay allowed from anywhere.
	for _, method := range []string{"GET", "HEAD", "OPTIONS"} {
		req, _ := http.NewRequest(method, g.URL+"/app/x", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("cross-site %s /app/x = %d, want 200", method, resp.StatusCode)
		}
	}
	// gatehouse's own cookie endpoints: logout from another site keeps the
	// session.
	if resp, _ := do(t, c, "POST", g.URL+"/auth/logout", "", "Origin", "https://evil.example", "X-Forwarded-Host", "evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site logout = %d, want 403", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("session after a refused cross-site logout = %d, want 200", resp.StatusCode)
	}
}

// TestDomainCookieReplacesAHostOnlyOne: sessions.cookie.domain set on a
// deployment whose browsers still hold the host-only cookie of the same
// name (the domain was added later, docs/gateway.md). Every request then
// carries two cookies, which count as none; expiring only the Domain one
// left the stale host-only cookie, so each new login was lost at the next
// request, until the browser was closed. A login and a clear expire the
// host-only cookie too.
func TestDomainCookieReplacesAHostOnlyOne(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Sessions.Cookie.Domain = "example.com"
	}))
	g.CreateUser(t, "alice", strongPassword)
	// A browser at app.example.com: the connection goes to the instance.
	addr := strings.TrimPrefix(g.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	base := "http://app.example.com:" + port
	c := testutil.Client(t)
	c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	name := g.App.Sessions.CookieName()
	c.Jar.SetCookies(mustURL(t, base+"/"), []*http.Cookie{{Name: name, Value: "stale-host-only-session", Path: "/"}})
	for attempt := range 2 {
		if resp, body := loginJSON(t, c, base, "alice", strongPassword); resp.StatusCode != http.StatusOK {
			t.Fatalf("login %d = %d %s", attempt, resp.StatusCode, body)
		}
		resp, body := do(t, c, "GET", base+"/auth/session", "")
		if resp.StatusCode == http.StatusOK {
			return
		}
		t.Errorf("GET /auth/session after login %d = %d %s (Cookie had %d %s), want 200", attempt, resp.StatusCode, body,
			len(c.Jar.Cookies(mustURL(t, base+"/"))), name)
	}
}
