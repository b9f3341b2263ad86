package httpapi_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// answerKind is what a response is, and so which headers it must carry
// (docs/security.md, "Response headers").
type answerKind int

const (
	// page is an HTML page no app's sign-in or sign-out popup shows:
	// the page headers plus Cross-Origin-Opener-Policy: same-origin.
	page answerKind = iota
	// flowPage is an HTML page of the sign-in and sign-out flows an app
	// may run in a popup (login, second factor, consent, end_session):
	// the page headers, and no Cross-Origin-Opener-Policy, which would cut
	// the popup off from the app's window.
	flowPage
	// private is JSON with credentials or user data: never cached.
	private
	// tokenJSON is the token endpoint's JSON (RFC 6749 §5.1): no-store
	// and Pragma: no-cache.
	tokenJSON
	// public is a public document (discovery, JWKS, OpenAPI, the script):
	// cacheable.
	public
	// redirect is a 3xx to Location: no-store, as every answer of
	// gatehouse's own that is no public document (a redirect that sets a
	// cookie above all: a shared cache must never store a Set-Cookie).
	redirect
	// empty is a 2xx without a body.
	empty
)

// headersFixture is a gatehouse with every optional surface switched on:
// second factors and passkeys, an app that needs consent, a login
// provider, a gateway route to an upstream that is down, and the admin
// console; with alice (signed in, in three sessions), mfa (TOTP, between
// her two steps twice) and root (an administrator with a second factor).
type headersFixture struct {
	g                              *testutil.Instance
	alice, leaving, pending, admin *http.Client
	leavingForm, pendingForm       *http.Client // for the form answers that end these
	aliceToken, rootToken          string
	mfaSecret                      string
}

func startHeadersFixture(t *testing.T) *headersFixture {
	t.Helper()
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-alice", PreferredUsername: "alice",
		Email: "alice@corp.example", EmailVerified: true}))
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin // WebAuthn needs a domain: /static/webauthn.js and the scripted pages
		c.Login.MaxFailures = 2
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret()}}
		c.Clients = []config.Client{{ID: "web", Name: "Orders web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
			PostLogoutRedirectURIs: []string{"https://rp.example.com/bye"},
			GrantTypes:             []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}}}
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: "http://127.0.0.1:1", Auth: "session"}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "mfa", strongPassword)
	g.CreateUser(t, "root", strongPassword, "admin")
	g.CreateUser(t, "throttled", strongPassword)
	for _, name := range []string{"bob", "carol", "dave"} { // one refused login each
		g.CreateUser(t, name, strongPassword)
	}
	mfaSecret := enrolTOTP(t, g, "mfa")
	f := &headersFixture{g: g, alice: browser(t, g, "alice"), leaving: browser(t, g, "alice"), leavingForm: browser(t, g, "alice"), mfaSecret: mfaSecret}
	f.pending, _ = pendingLogin(t, g, "mfa")
	f.pendingForm, _ = pendingLogin(t, g, "mfa")

	secret := enrolTOTP(t, g, "root")
	f.admin, _ = pendingLogin(t, g, "root")
	if resp, body := postJSON(t, f.admin, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != http.StatusOK {
		t.Fatalf("root's second step = %d %s", resp.StatusCode, body)
	}
	f.aliceToken = issueToken(t, g, "alice", "pwd")
	f.rootToken = issueToken(t, g, "root", "pwd", "otp", "mfa")
	return f
}

// issueToken is an access token for name with amr, as the instance issues
// them.
func issueToken(t *testing.T, g *testutil.Instance, name string, amr ...string) string {
	t.Helper()
	u, err := g.App.Users.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := g.App.Issuer.Issue(token.Subject{UserID: u.ID, Username: u.Username, Roles: u.Roles, ClientID: "gatehouse", AMR: amr}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is testutil.Send with client c (nil: a fresh one without cookies).
func call(t *testing.T, c *http.Client, method, u, body string, header ...string) (*http.Response, string) {
	t.Helper()
	if c == nil {
		c = testutil.Client(t)
	}
	return testutil.Send(t, c, method, u, body, header...)
}

// leaks are what an answer must never show: a stack trace, Go source
// positions, internal error text.
var leaks = regexp.MustCompile(`goroutine \d|\.go:\d|panic|runtime error|sql: |SQLSTATE|dial tcp|context deadline|connection refused`)

// checkHeaders asserts the headers every answer of kind must carry.
func checkHeaders(t *testing.T, kind answerKind, resp *http.Response, body string) {
	t.Helper()
	h := resp.Header
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
	if body != "" && h.Get("Content-Type") == "" {
		t.Errorf("a body without Content-Type")
	}
	if m := leaks.FindString(body); m != "" {
		t.Errorf("body shows internals (%q):\n%s", m, body)
	}
	// RFC 9111 section 3: a shared cache may store a response with
	// Set-Cookie and replay the cookie to the next client.
	if len(h.Values("Set-Cookie")) > 0 && kind != page && kind != flowPage && h.Get("Cache-Control") != "no-store" {
		t.Errorf("sets a cookie with Cache-Control %q, want no-store", h.Get("Cache-Control"))
	}
	if resp.StatusCode >= 400 && kind != page && kind != flowPage {
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.HasPrefix(body, `{"error":"`) {
			t.Errorf("error answer %s %q, want JSON {\"error\":…}", ct, body)
		}
	}
	switch kind {
	case page, flowPage:
		if got := h.Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("X-Frame-Options = %q, want DENY", got)
		}
		if got := h.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("Referrer-Policy = %q, want no-referrer", got)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:"} {
			if strings.Contains(csp, bad) {
				t.Errorf("CSP %q allows %s", csp, bad)
			}
		}
		coop := h.Get("Cross-Origin-Opener-Policy")
		if kind == page && coop != "same-origin" {
			t.Errorf("Cross-Origin-Opener-Policy = %q, want same-origin", coop)
		}
		if kind == flowPage && coop != "" {
			t.Errorf("Cross-Origin-Opener-Policy = %q on a page an app's popup shows, want none", coop)
		}
	case private, tokenJSON:
		if got := h.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
		if got := h.Get("Pragma"); kind == tokenJSON && got != "no-cache" {
			t.Errorf("Pragma = %q, want no-cache (RFC 6749 §5.1)", got)
		}
	case public:
		if got := h.Get("Cache-Control"); !strings.Contains(got, "public") {
			t.Errorf("Cache-Control = %q, want a public document's", got)
		}
	case redirect:
		if resp.StatusCode/100 != 3 || h.Get("Location") == "" {
			t.Errorf("= %d Location %q, want a redirect", resp.StatusCode, h.Get("Location"))
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	case empty:
		if body != "" {
			t.Errorf("body %q, want none", body)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	}
}

// TestResponseHeaders walks the endpoints gatehouse answers itself (not
// what a gateway route's upstream answers): its pages, JSON APIs,
// discovery documents, health endpoints, and the errors the router, body
// cap and gateway produce, and checks each answer's security headers
// (OWASP ASVS 5.0 V3.4, 14.3.2; RFC 6749 §5.1; docs/security.md).
func TestResponseHeaders(t *testing.T) {
	f := startHeadersFixture(t)
	g, base := f.g, f.g.URL
	const form, jsonType = "application/x-www-form-urlencoded", "application/json"
	sameOrigin := []string{"Origin", base}
	browserForm := []string{"Content-Type", form, "Accept", "text/html", "Origin", base}
	cookieOf := func(c *http.Client, path string) []string { // what c's browser sends to path
		u, _ := url.Parse(base + path)
		var parts []string
		for _, ck := range c.Jar.Cookies(u) {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
		return []string{"Cookie", strings.Join(parts, "; ")}
	}
	authz := authzRequest("web", webCB, oauth2.GenerateVerifier()).Encode()
	big := `{"username":"` + strings.Repeat("a", 2<<20) + `"}`
	for range 3 { // over login.max_failures: the next attempts are throttled
		call(t, nil, "POST", base+"/auth/login", `{"username":"throttled","password":"wrong password!"}`, "Content-Type", jsonType)
	}

	tests := []struct {
		name       string
		c          *http.Client // nil: no cookies
		method     string
		path, body string
		header     []string
		status     int
		kind       answerKind
	}{
		// HTML pages.
		{"login page", nil, "GET", "/login", "", nil, 200, flowPage},
		{"login page HEAD", nil, "HEAD", "/login", "", nil, 200, flowPage},
		{"second step page", f.pending, "GET", "/login/mfa", "", nil, 200, flowPage},
		{"enrolment page", f.alice, "POST", "/auth/mfa/totp", "", browserForm, 200, flowPage},
		{"consent page", f.alice, "GET", "/auth/authorize?" + authz, "", nil, 200, flowPage},
		{"end_session confirmation", f.alice, "GET", "/auth/end_session", "", nil, 200, flowPage},
		{"login form throttled", nil, "POST", "/auth/login", "username=throttled&password=x", browserForm, 429, flowPage},
		{"account page", f.alice, "GET", "/account", "", nil, 200, page},
		{"recovery codes page", f.admin, "POST", "/auth/mfa/recovery-codes", "", browserForm, 200, page},
		{"admin console users", f.admin, "GET", "/admin/users", "", []string{"Accept", "text/html"}, 200, page},
		{"admin console user", f.admin, "GET", "/admin/users/alice", "", []string{"Accept", "text/html"}, 200, page},
		{"admin console clients", f.admin, "GET", "/admin/clients", "", []string{"Accept", "text/html"}, 200, page},
		{"admin console keys", f.admin, "GET", "/admin/keys", "", []string{"Accept", "text/html"}, 200, page},
		{"admin console audit", f.admin, "GET", "/admin/audit", "", []string{"Accept", "text/html"}, 200, page},
		// HTML error pages.
		{"admin console as non-admin", f.alice, "GET", "/admin/users", "", []string{"Accept", "text/html"}, 403, page},
		{"authorize with an unknown client", nil, "GET", "/auth/authorize?client_id=nope", "", nil, 400, page},
		{"OIDC callback with a bad state", nil, "GET", "/auth/oidc/corp/callback?state=x&code=y", "", nil, 400, page},
		{"form with a repeated field", nil, "POST", "/auth/login", "username=a&username=b", browserForm, 400, page},
		// Redirects.
		{"account without a session", nil, "GET", "/account", "", nil, 302, redirect},
		{"console without a session", nil, "GET", "/admin/users", "", []string{"Accept", "text/html"}, 302, redirect},
		{"ServeMux: /admin to /admin/", f.admin, "GET", "/admin", "", nil, 307, redirect},
		{"ServeMux: /admin/api to /admin/api/", nil, "GET", "/admin/api", "", nil, 307, redirect},
		{"login form", nil, "POST", "/auth/login", "username=alice&password=" + url.QueryEscape(strongPassword), []string{"Content-Type", form, "Origin", base}, 303, redirect},
		{"login form refused", nil, "POST", "/auth/login", "username=bob&password=wrong", []string{"Content-Type", form, "Origin", base}, 303, redirect},
		{"OIDC start", nil, "GET", "/auth/oidc/corp/start?next=/account", "", nil, 302, redirect},
		// Redirects that set a cookie.
		{"login form, second factor needed", nil, "POST", "/auth/login", "username=mfa&password=" + url.QueryEscape(strongPassword), []string{"Content-Type", form, "Origin", base}, 303, redirect},
		{"second step form", f.pendingForm, "POST", "/auth/login/mfa", "method=totp&next=/account&code=" + mfatest.TOTPCode(t, f.mfaSecret, g.Clock.Now()), browserForm, 303, redirect},
		{"logout form", f.leavingForm, "POST", "/auth/logout", "", browserForm, 303, redirect},
		{"ServeMux redirect clearing a tossed cookie", nil, "GET", "/admin", "", []string{"Cookie", g.App.Sessions.CookieName() + "=a; " + g.App.Sessions.CookieName() + "=b"}, 307, redirect},
		{"gateway route, browser without a session", nil, "GET", "/app/x", "", []string{"Accept", "text/html"}, 302, redirect},
		// JSON with credentials or user data.
		{"login JSON", nil, "POST", "/auth/login", `{"username":"alice","password":"` + strongPassword + `"}`, []string{"Content-Type", jsonType}, 200, private},
		{"login JSON, second factor needed", nil, "POST", "/auth/login", `{"username":"mfa","password":"` + strongPassword + `"}`, []string{"Content-Type", jsonType}, 200, private},
		{"second step, wrong code", f.pending, "POST", "/auth/login/mfa", `{"method":"totp","code":"000000"}`, []string{"Content-Type", jsonType}, 401, private},
		{"session", f.alice, "GET", "/auth/session", "", nil, 200, private},
		{"sessions", f.alice, "GET", "/auth/sessions", "", nil, 200, private},
		{"TOTP enrolment JSON", f.alice, "POST", "/auth/mfa/totp", "", []string{"Content-Type", jsonType}, 200, private},
		{"passkeys", f.alice, "GET", "/auth/webauthn", "", nil, 200, private},
		{"passkey login begin", nil, "POST", "/auth/webauthn/login/begin", "{}", []string{"Content-Type", jsonType, "Origin", base}, 200, private},
		{"userinfo", nil, "GET", "/auth/userinfo", "", []string{"Authorization", "Bearer " + f.aliceToken}, 200, private},
		{"admin API", nil, "GET", "/admin/api/v1/users", "", []string{"Authorization", "Bearer " + f.rootToken}, 200, private},
		{"admin API keys", nil, "GET", "/admin/api/v1/keys", "", []string{"Authorization", "Bearer " + f.rootToken}, 200, private},
		{"healthz", nil, "GET", "/healthz", "", nil, 200, private},
		{"readyz", nil, "GET", "/readyz", "", nil, 200, private},
		{"token, password grant", nil, "POST", "/auth/token", "grant_type=password&username=alice&password=" + url.QueryEscape(strongPassword), []string{"Content-Type", form}, 200, tokenJSON},
		{"token, wrong password", nil, "POST", "/auth/token", "grant_type=password&username=dave&password=wrong", []string{"Content-Type", form}, 400, tokenJSON},
		{"token, unknown grant", nil, "POST", "/auth/token", "grant_type=zzz", []string{"Content-Type", form}, 400, tokenJSON},
		{"token, wrong client secret", nil, "POST", "/auth/token", "grant_type=authorization_code&code=x", []string{"Content-Type", form, "Authorization", basic("web", "wrong")}, 401, tokenJSON},
		// Public documents.
		{"JWKS", nil, "GET", "/.well-known/jwks.json", "", nil, 200, public},
		{"OIDC discovery", nil, "GET", "/.well-known/openid-configuration", "", nil, 200, public},
		{"RFC 8414 metadata", nil, "GET", "/.well-known/oauth-authorization-server", "", nil, 200, public},
		{"OpenAPI", nil, "GET", "/openapi.json", "", nil, 200, public},
		{"WebAuthn script", nil, "GET", "/static/webauthn.js", "", nil, 200, public},
		// Answers without a body.
		{"revoke", nil, "POST", "/auth/revoke", "token=x", []string{"Content-Type", form}, 200, empty},
		{"logout JSON", f.leaving, "POST", "/auth/logout", "", sameOrigin, 204, empty},
		// Errors: JSON, from the endpoints, the router, the body cap, the
		// cross-origin check and the gateway.
		{"login JSON refused", nil, "POST", "/auth/login", `{"username":"carol","password":"wrong"}`, []string{"Content-Type", jsonType}, 401, private},
		{"login JSON throttled", nil, "POST", "/auth/login", `{"username":"throttled","password":"x"}`, []string{"Content-Type", jsonType}, 429, private},
		{"session without a cookie", nil, "GET", "/auth/session", "", nil, 401, private},
		{"userinfo without a token", nil, "GET", "/auth/userinfo", "", nil, 401, private},
		{"admin API without a credential", nil, "GET", "/admin/api/v1/users", "", nil, 401, private},
		{"admin API as non-admin", nil, "GET", "/admin/api/v1/users", "", []string{"Authorization", "Bearer " + f.aliceToken}, 403, private},
		{"admin API, unknown path", nil, "GET", "/admin/api/v1/nope", "", []string{"Authorization", "Bearer " + f.rootToken}, 404, private},
		{"admin API, wrong method", nil, "PATCH", "/admin/api/v1/users", "", []string{"Authorization", "Bearer " + f.rootToken}, 405, private},
		{"unknown path", nil, "GET", "/nope", "", nil, 404, private},
		{"wrong method", nil, "PUT", "/login", "", nil, 405, private},
		{"wrong method on healthz", nil, "DELETE", "/healthz", "", nil, 405, private},
		{"body over the cap", nil, "POST", "/auth/login", big, []string{"Content-Type", jsonType}, 400, private},
		{"token body over the cap", nil, "POST", "/auth/token", "grant_type=password&username=" + strings.Repeat("a", 2<<20), []string{"Content-Type", form}, 400, tokenJSON},
		{"cross-origin logout", f.alice, "POST", "/auth/logout", "", []string{"Origin", "https://evil.example"}, 403, private},
		{"forward-auth without headers", nil, "GET", "/auth/verify", "", nil, 400, private},
		{"gateway route without a credential", nil, "GET", "/app/x", "", nil, 401, private},
		{"gateway route, upstream down", f.alice, "GET", "/app/x", "", nil, 502, private},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := tt.header
			if tt.c != nil {
				header = append(cookieOf(tt.c, tt.path), header...)
			}
			resp, body := call(t, nil, tt.method, base+tt.path, tt.body, header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d, want %d\n%s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			}
			checkHeaders(t, tt.kind, resp, body)
		})
	}

	t.Run("metrics on admin_listen", func(t *testing.T) {
		admin := httptest.NewServer(g.App.AdminHandler())
		t.Cleanup(admin.Close)
		resp, body := call(t, nil, "GET", admin.URL+"/metrics", "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("/metrics = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
		}
		if !strings.Contains(body, "gatehouse_") {
			t.Errorf("/metrics body holds no gatehouse metric")
		}
		for _, p := range []string{"/nope", "/debug/pprof/"} { // pprof is off by default
			resp, body := call(t, nil, "GET", admin.URL+p, "")
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s = %d nosniff %q, want 404 with nosniff: %s", p, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"), body)
			}
		}
	})
}

// TestOIDCCallbackRedirectIsNoStore: the callback's 303 that ends an OIDC
// login sets the session cookie, and carries the headers of every redirect
// of gatehouse's own (no-store), which TestResponseHeaders cannot reach
// without the provider's round trip.
func TestOIDCCallbackRedirectIsNoStore(t *testing.T) {
	g, _ := oidcMFAInstance(t, nil)
	resp, body := oidcLogin(t, g, testutil.Client(t), "/account")
	if resp.StatusCode != http.StatusSeeOther || !hasSessionCookie(g, resp) {
		t.Fatalf("callback = %d, session cookie %v; want 303 with one\n%s", resp.StatusCode, hasSessionCookie(g, resp), body)
	}
	checkHeaders(t, redirect, resp, body)
}

// TestEveryCookieHasItsFlags: every cookie gatehouse sets — session, pending second
// step, OIDC login state, WebAuthn ceremony, and their clearing — is
// HttpOnly with SameSite and a Path; Secure exactly when cookies are
// secure (contract §3); the session cookie's __Host- name with Secure,
// Path=/ and no Domain (RFC 6265bis §4.1.3.2).
func TestEveryCookieHasItsFlags(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain http", true: "https public_url"}[secure], func(t *testing.T) {
			op := oidctestop.Start(t)
			g := mfaInstance(t, func(c *config.Config) {
				c.PublicURL = passkeyOrigin
				if secure {
					c.PublicURL = "https://localhost:8099"
				}
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret()}}
			})
			g.CreateUser(t, "alice", strongPassword)
			g.CreateUser(t, "mfa", strongPassword)
			enrolTOTP(t, g, "mfa")
			sessionName := g.Config.CookieName()
			if got, want := strings.HasPrefix(sessionName, "__Host-"), secure; got != want {
				t.Fatalf("session cookie %q, want the __Host- prefix: %v", sessionName, want)
			}
			j := "application/json"
			var cookies []*http.Cookie
			collect := func(resp *http.Response, body string) {
				t.Helper()
				if len(resp.Cookies()) == 0 {
					t.Fatalf("%s %s = %d: no cookie\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
				}
				cookies = append(cookies, resp.Cookies()...)
			}
			collect(call(t, nil, "POST", g.URL+"/auth/login", `{"username":"alice","password":"`+strongPassword+`"}`, "Content-Type", j))
			collect(call(t, nil, "POST", g.URL+"/auth/login", `{"username":"mfa","password":"`+strongPassword+`"}`, "Content-Type", j))
			collect(call(t, nil, "GET", g.URL+"/auth/oidc/corp/start?next=/account", ""))
			collect(call(t, nil, "POST", g.URL+"/auth/webauthn/login/begin", "{}", "Content-Type", j, "Origin", g.URL))
			collect(call(t, nil, "POST", g.URL+"/auth/logout", "", "Origin", g.URL, "Cookie", sessionName+"=x; "+sessionName+"=y"))
			for _, ck := range cookies {
				if !ck.HttpOnly || ck.SameSite == http.SameSiteDefaultMode || ck.Path == "" || ck.Secure != secure || ck.Domain != "" {
					t.Errorf("cookie %s: HttpOnly %v SameSite %v Path %q Secure %v Domain %q; want HttpOnly, a SameSite, a Path, Secure %v, no Domain",
						ck.Name, ck.HttpOnly, ck.SameSite, ck.Path, ck.Secure, ck.Domain, secure)
				}
				if strings.HasPrefix(ck.Name, "__Host-") && (!ck.Secure || ck.Path != "/" || ck.Domain != "") {
					t.Errorf("cookie %s breaks the __Host- rules: Secure %v Path %q Domain %q", ck.Name, ck.Secure, ck.Path, ck.Domain)
				}
			}
		})
	}
}

// offOrigin reports why loc, a Location or a form's next, would take the
// browser off base's origin ("" when it stays): resolved as a browser
// resolves it, which reads "\" as "/" and drops tabs and newlines.
func offOrigin(base, loc string) string {
	b, _ := url.Parse(base)
	norm := strings.NewReplacer("\\", "/", "\t", "", "\n", "", "\r", "").Replace(strings.TrimSpace(loc))
	u, err := url.Parse(norm)
	if err != nil {
		return "unparsable: " + err.Error()
	}
	r := b.ResolveReference(u)
	if r.Scheme != b.Scheme || r.Host != b.Host || r.User != nil {
		return "resolves to " + r.Scheme + "://" + r.Host
	}
	return ""
}

var nextField = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestNoOpenRedirect: no parameter of the sign-in and sign-out endpoints
// sends the browser off gatehouse's origin to a host no route names: not
// next, and not the rd / return_to / redirect_uri spellings other servers
// read (which gatehouse ignores), however a host is smuggled in.
func TestNoOpenRedirect(t *testing.T) {
	g := startApps(t, testutil.WithConfig(func(c *config.Config) { c.Login.MaxFailures = 200 })) // a refused login per vector
	g.CreateUser(t, "alice", strongPassword)
	vectors := []string{
		"//evil.example", "///evil.example", `/\evil.example`, `\\evil.example`, `/\/evil.example`,
		"https:evil.example", "https:/evil.example", `https:\\evil.example`, "https://evil.example", "http://evil.example/x",
		"https://public@evil.example", "https://127.0.0.1@evil.example/", "https://evil.example#@127.0.0.1",
		"%2F%2Fevil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "%5C%5Cevil.example",
		"/\t/evil.example", "/\n/evil.example", " //evil.example", "/.//evil.example", "/..//evil.example",
		"javascript:alert(1)", "data:text/html,x", "evil.example",
	}
	for _, v := range vectors {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			form := url.Values{"username": {"alice"}, "password": {strongPassword}, "next": {v}, "rd": {v}, "return_to": {v}, "redirect_uri": {v}}
			resp, _ := call(t, nil, "POST", g.URL+"/auth/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL)
			if why := offOrigin(g.URL, resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || why != "" {
				t.Errorf("login form = %d Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), why)
			}
			form.Set("password", "wrong password!")
			resp, _ = call(t, nil, "POST", g.URL+"/auth/login", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL)
			if why := offOrigin(g.URL, resp.Header.Get("Location")); why != "" {
				t.Errorf("refused login form Location %q: %s", resp.Header.Get("Location"), why)
			}
			q := url.Values{"next": {v}, "rd": {v}, "return_to": {v}}.Encode()
			resp, body := call(t, nil, "GET", g.URL+"/login?"+q, "")
			m := nextField.FindStringSubmatch(body)
			if resp.StatusCode != http.StatusOK || m == nil {
				t.Fatalf("login page = %d, no next field", resp.StatusCode)
			}
			if why := offOrigin(g.URL, html.UnescapeString(m[1])); why != "" {
				t.Errorf("login page keeps next %q: %s", m[1], why)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "evil") {
				t.Errorf("login page CSP admits the host: %q", csp)
			}
			b := browser(t, g, "alice")
			resp, _ = call(t, b, "POST", g.URL+"/auth/logout?"+q, url.Values{"next": {v}}.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL)
			if why := offOrigin(g.URL, resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || why != "" {
				t.Errorf("logout form = %d Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), why)
			}
			resp, _ = call(t, nil, "GET", g.URL+"/auth/end_session?"+url.Values{"post_logout_redirect_uri": {v}, "state": {"s"}}.Encode(), "")
			if loc := resp.Header.Get("Location"); loc != "" && offOrigin(g.URL, loc) != "" {
				t.Errorf("end_session = %d Location %q", resp.StatusCode, loc)
			}
			a := authzRequest("web", v, oauth2.GenerateVerifier())
			resp, _ = call(t, b, "GET", g.URL+"/auth/authorize?"+a.Encode(), "")
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusBadRequest || loc != "" {
				t.Errorf("authorize with redirect_uri %q = %d Location %q, want a 400 page", v, resp.StatusCode, loc)
			}
		})
	}
}
