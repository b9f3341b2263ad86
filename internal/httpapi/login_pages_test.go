package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Browsers apply a page's form-action to every redirect that answers its
// form (Chromium refuses the navigation; w3c/webappsec-csp#8). The sign-in
// forms are answered by a 303 to next, and a next of /auth/authorize goes on
// with a 302 to the app: an app already allowed (or first-party) with an
// RFC 8252 loopback or private-use scheme redirect URI, or a route's host
// on plain http, ends that chain off gatehouse's origin. So the login page,
// the second-factor page and the enrolment page add that one target to
// form-action, as the consent page does; an unregistered redirect URI adds
// nothing. With passkeys on, the login page keeps its script-src.
func TestSignInPagesFormActionAllowsWhereTheirRedirectsEnd(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin // passkeys on: the login page loads its script
		c.Login.RequireMFARoles = []string{"admin"}
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{Host: "app.example.com", PathPrefix: "/"},
			Upstream: "http://127.0.0.1:1", Auth: "session"}}
		c.Clients = []config.Client{
			{ID: "cli", Type: "public", FirstParty: true, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}},
		}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	enrolTOTP(t, g, "bob")
	g.CreateUser(t, "root", strongPassword, "admin")
	authorize := func(redirect string) string {
		return "/auth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"cli"}, "redirect_uri": {redirect},
			"scope": {"openid"}, "state": {"s"}, "code_challenge_method": {"S256"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}.Encode()
	}
	form := func(c *http.Client, path string, v url.Values) (*http.Response, string) {
		return do(t, c, "POST", g.URL+path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	// Each returns a sign-in page whose form goes on to next.
	pages := map[string]func(t *testing.T, next string) (*http.Response, string){
		"login": func(t *testing.T, next string) (*http.Response, string) {
			return do(t, testutil.Client(t), "GET", g.URL+"/login?next="+url.QueryEscape(next), "")
		},
		"second factor": func(t *testing.T, next string) (*http.Response, string) {
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "bob", strongPassword, next)
			return do(t, c, "GET", g.URL+resp.Header.Get("Location"), "")
		},
		"enrolment": func(t *testing.T, next string) (*http.Response, string) {
			c := testutil.Client(t)
			loginForm(t, c, g.URL, "root", strongPassword, next)
			return form(c, "/auth/mfa/totp", url.Values{"next": {next}})
		},
	}
	tests := []struct {
		name, next, target string
	}{
		{"loopback app", authorize("http://127.0.0.1:54321/cb"), "http://127.0.0.1:54321"},
		{"private-use scheme app", authorize("com.example.app:/cb"), "com.example.app:"},
		{"route host on http", "http://app.example.com/orders", "http://app.example.com"},
		{"unregistered redirect URI", authorize("http://127.0.0.2:54321/cb"), ""},
		{"a path", "/account", ""},
	}
	for _, tt := range tests {
		// Where the login form's redirects end: the target's origin.
		if tt.target != "" {
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "alice", strongPassword, tt.next)
			loc := resp.Header.Get("Location")
			if strings.HasPrefix(loc, "/") {
				resp, _ = do(t, c, "GET", g.URL+loc, "")
				loc = resp.Header.Get("Location")
			}
			if !strings.HasPrefix(loc, tt.target) {
				t.Fatalf("%s: the login form's redirects end at %q, want %s…", tt.name, loc, tt.target)
			}
		}
		want := "form-action 'self' https:;"
		if tt.target != "" {
			want = "form-action 'self' https: " + tt.target + ";"
		}
		for page, get := range pages {
			t.Run(tt.name+"/"+page, func(t *testing.T) {
				g.Clock.Advance(31e9) // a fresh TOTP step for bob's pending login
				resp, body := get(t, tt.next)
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="next" value="`+htmlAttr(tt.next)+`"`) {
					t.Fatalf("%s page = %d, want its form with next %q:\n%s", page, resp.StatusCode, tt.next, body)
				}
				csp := resp.Header.Get("Content-Security-Policy")
				if !strings.Contains(csp, want) {
					t.Errorf("CSP = %q, want %q", csp, want)
				}
				if page == "login" && !strings.Contains(csp, "; script-src 'nonce-") {
					t.Errorf("login page CSP = %q, want its script-src", csp)
				}
			})
		}
	}
}

// A throttled password login (429) answers with the login page again: it
// still offers passkeys, which the password throttle does not stop, as the
// page does on every other visit.
func TestThrottledLoginPageKeepsPasskeys(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		c.Login.MaxFailures = 1
	})
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	if resp, _ := loginForm(t, c, g.URL, "alice", "wrong password", "/account"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("wrong password = %d, want 303", resp.StatusCode)
	}
	resp, body := loginForm(t, c, g.URL, "alice", "wrong password", "/account")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled login = %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, want := range []string{"Too many failed attempts", "Sign in with a passkey", `autocomplete="username webauthn"`, `<script src="/static/webauthn.js?v=`} {
		if !strings.Contains(body, want) {
			t.Errorf("throttled login page lacks %q:\n%s", want, body)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("throttled login page CSP = %q, want its script-src", csp)
	}
}

// An app's authorization request with a long state (apps keep their own
// data there) survives the login it sends the browser through: the password
// login, and the second step whose pending cookie carries next, return to
// the authorization request, which answers the app with its state, rather
// than to "/". The pending cookie stays within browsers' 4 KiB.
func TestLongAuthorizationRequestSurvivesLogin(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.Clients = []config.Client{{ID: "spa", Type: "public", FirstParty: true, RedirectURIs: []string{"https://spa.example.com/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "profile"}}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	secret := enrolTOTP(t, g, "bob")
	state := strings.Repeat("eyJyZXR1cm5UbyI6Ii9vcmRlcnMvMTIzNDU2In0", 36) // 1,404 characters
	authorize := "/auth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"spa"},
		"redirect_uri": {"https://spa.example.com/cb"}, "scope": {"openid profile"}, "state": {state},
		"nonce": {oauth2.GenerateVerifier()}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}}.Encode()
	if len(authorize) <= 1024 || len(authorize) > 2048 {
		t.Fatalf("authorization request of %d bytes, want a long one within 2048", len(authorize))
	}
	form := func(c *http.Client, path string, v url.Values) *http.Response {
		resp, _ := do(t, c, "POST", g.URL+path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		return resp
	}
	for _, tt := range []struct {
		name       string
		user       string
		secondStep bool
	}{{"password", "alice", false}, {"password and TOTP", "bob", true}} {
		t.Run(tt.name, func(t *testing.T) {
			c := testutil.Client(t)
			resp, _ := do(t, c, "GET", g.URL+authorize, "")
			loc, err := url.Parse(resp.Header.Get("Location"))
			next := loc.Query().Get("next") // the request again, with gatehouse's auth_after
			if err != nil || loc.Path != "/login" || !strings.HasPrefix(next, "/auth/authorize?") || !strings.Contains(next, state) {
				t.Fatalf("authorize without a session = %d %q, want /login?next=<the request>", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, body := do(t, c, "GET", g.URL+loc.String(), "")
			if !strings.Contains(body, `name="next" value="`+htmlAttr(next)+`"`) {
				t.Fatalf("login page = %d, its form lacks next %q", resp.StatusCode, next)
			}
			resp = form(c, "/auth/login", url.Values{"username": {tt.user}, "password": {strongPassword}, "next": {next}})
			if tt.secondStep {
				pc := sessionCookie(t, resp, "gatehouse_mfa")
				if n := len(pc.Name) + len(pc.Value); n > 4096 {
					t.Fatalf("pending cookie of %d bytes, over browsers' 4096", n)
				}
				g.Clock.Advance(31e9) // a fresh TOTP step
				resp = form(c, "/auth/login/mfa", url.Values{"method": {"totp"}, "code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}})
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
				t.Fatalf("login = %d Location %q, want 303 to the authorization request", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, _ = do(t, c, "GET", g.URL+next, "")
			back, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || back.Host != "spa.example.com" || back.Query().Get("state") != state || back.Query().Get("code") == "" {
				t.Fatalf("authorize after login = %d %q, want the app's redirect URI with a code and its state", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}
