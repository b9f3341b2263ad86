package httpapi_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// oidcMFAInstance starts gatehouse (keys.encryption_key, settable clock)
// with the test OpenID provider "corp" (create_users, roles) and its
// user olivia.
func oidcMFAInstance(t *testing.T, roles []string, edit ...func(*config.Config)) (*testutil.Instance, *oidctestop.Provider) {
	t.Helper()
	op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{
		Subject: "olivia-sub-1", PreferredUsername: "olivia", Email: "olivia@corp.example", EmailVerified: true, Name: "Olivia",
	}))
	g := mfaInstance(t, append([]func(*config.Config){func(c *config.Config) {
		c.OIDC.Providers = []config.Provider{{Name: "corp", DisplayName: "Corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
			ClientSecret: op.ClientSecret(), Scopes: []string{"openid", "email", "profile"}, CreateUsers: true, DefaultRoles: roles}}
	}}, edit...)...)
	op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")
	return g, op
}

// hasSessionCookie reports whether resp set a live session cookie.
func hasSessionCookie(g *testutil.Instance, resp *http.Response) bool {
	for _, ck := range resp.Cookies() {
		if ck.Name == g.App.Sessions.CookieName() && ck.MaxAge >= 0 && ck.Value != "" {
			return true
		}
	}
	return false
}

// sessionOf returns the "session" object of GET /auth/session (status 200
// required).
func sessionOf(t *testing.T, g *testutil.Instance, c *http.Client) map[string]any {
	t.Helper()
	resp, body := do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/auth/session = %d %s", resp.StatusCode, body)
	}
	return decode(t, body)["session"].(map[string]any)
}

// enrolTOTPIn enrols and confirms TOTP in browser c (a fresh session) and
// returns the secret; the clock then moves past the confirmation code.
func enrolTOTPIn(t *testing.T, g *testutil.Instance, c *http.Client) string {
	t.Helper()
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /auth/mfa/totp = %d %s", resp.StatusCode, body)
	}
	secret := decode(t, body)["secret"].(string)
	if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 204 {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	g.Clock.Advance(time.Minute)
	return secret
}

// An OIDC login of a user with a second factor gives no session: the
// pending cookie and /login/mfa, as after a password; the code then gives
// the session, whose amr says ext + otp + mfa and whose method stays the
// provider's.
func TestOIDCLoginAsksForSecondFactor(t *testing.T) {
	g, _ := oidcMFAInstance(t, []string{"user"})

	first := testutil.Client(t)
	resp := oidcLoginTo(t, g, first, "/account")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account" || !hasSessionCookie(g, resp) {
		t.Fatalf("first OIDC login (no factor) = %d %q, want 303 /account with a session", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := anyStrings(sessionOf(t, g, first)["amr"]); !slices.Equal(got, []string{"ext"}) {
		t.Fatalf("OIDC session without factor: amr = %v, want [ext]", got)
	}
	secret := enrolTOTPIn(t, g, first)
	// Step-up of that OIDC session: the new session keeps the provider's
	// method and adds otp + mfa to ext.
	if resp, body := postJSON(t, first, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
		t.Fatalf("step-up of the OIDC session = %d %s", resp.StatusCode, body)
	}
	if sess := sessionOf(t, g, first); !slices.Equal(anyStrings(sess["amr"]), []string{"ext", "otp", "mfa"}) || sess["method"] != "oidc:corp" {
		t.Fatalf("stepped-up OIDC session: amr %v method %v, want [ext otp mfa] oidc:corp", sess["amr"], sess["method"])
	}
	g.Clock.Advance(time.Minute)

	c := testutil.Client(t)
	resp = oidcLoginTo(t, g, c, "/app/x")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/mfa?next=%2Fapp%2Fx" {
		t.Fatalf("OIDC login of a TOTP user = %d %q, want 303 /login/mfa?next=%%2Fapp%%2Fx", resp.StatusCode, resp.Header.Get("Location"))
	}
	if hasSessionCookie(g, resp) {
		t.Fatal("the OIDC callback of a TOTP user set a session cookie")
	}
	if pc := sessionCookie(t, resp, "gatehouse_mfa"); !pc.HttpOnly || pc.MaxAge != 300 {
		t.Fatalf("pending cookie HttpOnly=%v MaxAge=%d", pc.HttpOnly, pc.MaxAge)
	}
	if resp, body := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("/auth/session between the steps = %d %s, want 401", resp.StatusCode, body)
	}
	resp, body := do(t, c, "GET", g.URL+"/login/mfa?next=%2Fapp%2Fx", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/login/mfa"`) {
		t.Fatalf("GET /login/mfa = %d %s", resp.StatusCode, body)
	}
	form := url.Values{"method": {"totp"}, "code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}}
	resp, _ = do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/app/x" {
		t.Fatalf("second step = %d %q, want 303 /app/x (the OIDC login's next)", resp.StatusCode, resp.Header.Get("Location"))
	}
	sess := sessionOf(t, g, c)
	if got := anyStrings(sess["amr"]); !slices.Equal(got, []string{"ext", "otp", "mfa"}) {
		t.Fatalf("amr = %v, want [ext otp mfa]", got)
	}
	if sess["method"] != "oidc:corp" {
		t.Fatalf("session method = %v, want oidc:corp", sess["method"])
	}
	// The account page lists the factor and the linked identity, with
	// human times (the exact time in the title), no raw timestamps.
	g.Clock.Advance(20 * time.Minute)
	resp, body = do(t, c, "GET", g.URL+"/account", "")
	for _, want := range []string{"Authenticator app: <strong>on</strong>", "Linked identities", "olivia@corp.example", ">20 minutes ago</time>", " UTC\">"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("/account = %d, lacks %q", resp.StatusCode, want)
		}
	}
	// Raw timestamps only in <time datetime> attributes, never shown.
	shown := regexp.MustCompile(`datetime="[^"]*"`).ReplaceAllString(body, "")
	if rfc3339 := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d`); rfc3339.MatchString(shown) {
		t.Errorf("/account shows a raw timestamp: %s", rfc3339.FindString(shown))
	}
	g.AssertLogsDoNotContain(t, secret)
}

// login.require_mfa_roles applies to OIDC logins: a user with the role and
// no factor is sent to enrol before any session, and the enrolment's
// confirmation gives the session.
func TestOIDCLoginRequireMFARolesEnrols(t *testing.T) {
	g, _ := oidcMFAInstance(t, []string{"admin"}, func(c *config.Config) { c.Login.RequireMFARoles = []string{"admin"} })
	c := testutil.Client(t)
	resp := oidcLoginTo(t, g, c, "/account")
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?") || hasSessionCookie(g, resp) {
		t.Fatalf("OIDC login of an admin without factor = %d %q, want 303 /login/mfa without a session", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := do(t, c, "GET", g.URL+"/login/mfa?next=%2Faccount", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/mfa/totp"`) {
		t.Fatalf("/login/mfa = %d %s, want the enrolment offer", resp.StatusCode, body)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("/auth/session before enrolment = %d, want 401", resp.StatusCode)
	}
	enrolTOTPIn(t, g, c)
	sess := sessionOf(t, g, c)
	if got := anyStrings(sess["amr"]); !slices.Equal(got, []string{"ext", "otp", "mfa"}) || sess["method"] != "oidc:corp" {
		t.Fatalf("session after enrolment: amr %v method %v, want [ext otp mfa] oidc:corp", got, sess["method"])
	}
}

// next in the MFA flow is host-aware (oidc.SafeNextOn): an absolute URL on
// a host a route names survives the second step and step-up; any other
// host, a scheme-relative or a javascript: URL becomes "/".
func TestMFANextIsHostAware(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{Host: "app.example.com", PathPrefix: "/"},
			Upstream: "http://127.0.0.1:1", Auth: "session", MFA: true}}
	})
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	tests := []struct{ next, want string }{
		{"http://app.example.com/admin?x=1", "http://app.example.com/admin?x=1"},
		{"/app/path", "/app/path"},
		{"https://evil.example/phish", "/"},
		{"//evil.example/phish", "/"},
		{"javascript:alert(1)", "/"},
		{"http://app.example.com.evil.example/", "/"},
	}
	for _, tt := range tests {
		t.Run("Login/"+tt.next, func(t *testing.T) {
			g.Clock.Advance(time.Minute)
			c := testutil.Client(t)
			resp, _ := loginForm(t, c, g.URL, "alice", strongPassword, tt.next)
			if want := "/login/mfa?next=" + url.QueryEscape(tt.want); resp.StatusCode != 303 || resp.Header.Get("Location") != want {
				t.Fatalf("password step = %d %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), want)
			}
			// The form posts next again; it is checked again.
			form := url.Values{"code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}, "next": {tt.next}}
			resp, _ = do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != 303 || resp.Header.Get("Location") != tt.want {
				t.Fatalf("second step = %d %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
		})
		t.Run("StepUp/"+tt.next, func(t *testing.T) {
			g.Clock.Advance(time.Minute)
			c := testutil.Client(t)
			// A session that passed only the password: /login/mfa?next= is a step-up.
			loginJSON(t, c, g.URL, "alice", strongPassword)
			form := url.Values{"code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}}
			if resp, _ := do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != 303 {
				t.Fatalf("second step = %d", resp.StatusCode)
			}
			g.Clock.Advance(time.Minute)
			resp, body := do(t, c, "GET", g.URL+"/login/mfa?next="+url.QueryEscape(tt.next), "")
			if resp.StatusCode != 200 || !strings.Contains(body, `name="next" value="`+htmlAttr(tt.want)+`"`) {
				t.Fatalf("step-up page = %d, want next %q in the form: %s", resp.StatusCode, tt.want, body)
			}
			form = url.Values{"code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}, "next": {tt.next}}
			resp, _ = do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != 303 || resp.Header.Get("Location") != tt.want {
				t.Fatalf("step-up = %d %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
		})
	}
	// The gateway's step-up on the host route sends the browser to
	// /login/mfa with a next on that host's path.
	c := testutil.Client(t)
	g.CreateUser(t, "bob", strongPassword)
	if resp, body := loginJSON(t, c, g.URL, "bob", strongPassword); resp.StatusCode != 200 {
		t.Fatalf("bob's login = %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", g.URL+"/dashboard?x=1", nil)
	req.Host = "app.example.com"
	req.Header.Set("Accept", "text/html")
	u, _ := url.Parse(g.URL)
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	testutil.ReadBody(t, resp)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/login/mfa?next=%2Fdashboard%3Fx%3D1" {
		t.Fatalf("password-only session on the mfa host route = %d %q, want 302 /login/mfa?next=", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// htmlAttr is s as html/template writes it in an attribute value.
func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;", "+", "&#43;").Replace(s)
}

// The attacks of issue 14 that the other tests do not cover.
func TestMFAAttacksBetweenTheSteps(t *testing.T) {
	up := newUpstream(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.Routes = []config.Route{{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	aliceSecret := enrolTOTP(t, g, "alice")
	bobSecret := enrolTOTP(t, g, "bob")
	second := func(c *http.Client, code string) (*http.Response, string) {
		return postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": code})
	}

	t.Run("PendingCookieIsNoCredential", func(t *testing.T) {
		c, _ := pendingLogin(t, g, "alice")
		// The gateway: a session route sends the browser to sign in, the
		// upstream sees nothing.
		before := up.seen()
		resp, _ := do(t, c, "GET", g.URL+"/app/x", "", "Accept", "text/html")
		if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") || up.seen() != before {
			t.Fatalf("gateway route with only the pending cookie = %d %q, want 302 /login and no upstream call", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, body := do(t, c, "GET", g.URL+"/app/x", ""); resp.StatusCode != 401 {
			t.Fatalf("gateway route (API) with only the pending cookie = %d %s, want 401", resp.StatusCode, body)
		}
		// /auth/verify (forward auth) refuses it too.
		if resp, body := do(t, c, "GET", g.URL+"/auth/verify", "", "X-Forwarded-Uri", "/app/x", "X-Forwarded-Method", "GET"); resp.StatusCode != 401 {
			t.Fatalf("/auth/verify with only the pending cookie = %d %s, want 401", resp.StatusCode, body)
		}
		// The token endpoint: no grant is made of the pending cookie.
		for _, grant := range []string{"password", "refresh_token", "authorization_code"} {
			form := url.Values{"grant_type": {grant}, "username": {"alice"}}
			resp, body := do(t, c, "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode < 400 || strings.Contains(body, "access_token") {
				t.Fatalf("/auth/token grant %s with the pending cookie = %d %s, want refused", grant, resp.StatusCode, body)
			}
		}
		// The session list and revocation endpoints.
		if resp, _ := do(t, c, "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode != 401 {
			t.Fatalf("DELETE /auth/sessions with only the pending cookie = %d, want 401", resp.StatusCode)
		}
		if resp, _ := postJSON(t, c, g.URL+"/auth/password", map[string]string{"current_password": strongPassword, "new_password": strongPassword + "!"}); resp.StatusCode != 401 {
			t.Fatalf("POST /auth/password with only the pending cookie = %d, want 401", resp.StatusCode)
		}
	})
	t.Run("PendingCookieOfAAfterPasswordOfB", func(t *testing.T) {
		g.Clock.Advance(time.Minute)
		a, _ := pendingLogin(t, g, "alice")
		aliceCookie := pendingCookieOf(t, g, a)
		// The same browser then passes bob's password: its pending login
		// is bob's now, and alice's code does not finish either login.
		if resp, body := loginJSON(t, a, g.URL, "bob", strongPassword); resp.StatusCode != 200 {
			t.Fatalf("bob's password step = %d %s", resp.StatusCode, body)
		}
		if resp, body := second(a, mfatest.TOTPCode(t, aliceSecret, g.Clock.Now())); resp.StatusCode != 401 {
			t.Fatalf("alice's code on bob's pending login = %d %s, want 401", resp.StatusCode, body)
		}
		// Alice's old pending cookie with bob's code: refused.
		old := withCookie(t, g.URL, aliceCookie)
		if resp, body := second(old, mfatest.TOTPCode(t, bobSecret, g.Clock.Now())); resp.StatusCode != 401 {
			t.Fatalf("alice's pending cookie with bob's code = %d %s, want 401", resp.StatusCode, body)
		}
		// Bob's own code finishes bob's login, as bob.
		resp, body := second(a, mfatest.TOTPCode(t, bobSecret, g.Clock.Now()))
		if resp.StatusCode != 200 || decode(t, body)["user"].(map[string]any)["username"] != "bob" {
			t.Fatalf("bob's code = %d %s, want a session for bob", resp.StatusCode, body)
		}
	})
	t.Run("PendingCookieDiesWithPasswordChange", func(t *testing.T) {
		g.Clock.Advance(time.Minute)
		g.CreateUser(t, "carol", strongPassword)
		carolSecret := enrolTOTP(t, g, "carol")
		c, _ := pendingLogin(t, g, "carol")
		if err := g.App.Users.SetPassword(t.Context(), "carol", strongPassword+" again"); err != nil {
			t.Fatal(err)
		}
		if resp, body := second(c, mfatest.TOTPCode(t, carolSecret, g.Clock.Now())); resp.StatusCode != 401 {
			t.Fatalf("pending cookie after the password changed = %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("EnrolmentNeedsRecentLogin", func(t *testing.T) {
		g.CreateUser(t, "dave", strongPassword)
		c := testutil.Client(t)
		loginJSON(t, c, g.URL, "dave", strongPassword)
		resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
		if resp.StatusCode != 200 {
			t.Fatalf("enrol right after login = %d %s", resp.StatusCode, body)
		}
		secret := decode(t, body)["secret"].(string)
		g.Clock.Advance(6 * time.Minute)
		if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 403 {
			t.Fatalf("confirm 6 min after login = %d %s, want 403", resp.StatusCode, body)
		}
		form := url.Values{}
		resp, _ = do(t, c, "POST", g.URL+"/auth/mfa/totp", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
			t.Fatalf("enrol form 6 min after login = %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// pendingCookieOf returns browser c's gatehouse_mfa cookie (the copy it
// sends to gatehouse's endpoints).
func pendingCookieOf(t *testing.T, g *testutil.Instance, c *http.Client) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(g.URL + "/auth/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "gatehouse_mfa" {
			return ck
		}
	}
	t.Fatal("no pending cookie")
	return nil
}

// TestTOTPReplayAcrossInstancesPostgres: two instances on one PostgreSQL
// database, with the replay cache in the store, and with Redis sessions
// (the replay cache then lives in Redis): a code one accepted, the other
// refuses.
func TestTOTPReplayAcrossInstancesPostgres(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "Store", true: "RedisSessions"}[withRedis], func(t *testing.T) {
			dsn := pgtest.DSN(t)
			clock := testutil.NewClock()
			redisURL, prefix := "", ""
			if withRedis {
				redisURL, prefix = redistest.New(t)
			}
			shared := func(c *config.Config) {
				c.Store = dsn
				c.Keys.EncryptionKey = encryptionKey
				if withRedis {
					c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
					c.Sessions.Store = "redis"
				}
			}
			a := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
			b := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
			a.CreateUser(t, "alice", strongPassword)
			secret := enrolTOTP(t, a, "alice")
			code := mfatest.TOTPCode(t, secret, clock.Now())
			ca, _ := pendingLogin(t, a, "alice")
			if resp, body := postJSON(t, ca, a.URL+"/auth/login/mfa", map[string]string{"code": code}); resp.StatusCode != 200 {
				t.Fatalf("code on instance A = %d %s", resp.StatusCode, body)
			}
			cb, _ := pendingLogin(t, b, "alice")
			if resp, body := postJSON(t, cb, b.URL+"/auth/login/mfa", map[string]string{"code": code}); resp.StatusCode != 401 {
				t.Fatalf("same code on instance B = %d %s, want 401", resp.StatusCode, body)
			}
			// The next step's code works on B: the refusal was the replay.
			clock.Advance(30 * time.Second)
			if resp, body := postJSON(t, cb, b.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, clock.Now())}); resp.StatusCode != 200 {
				t.Fatalf("next code on instance B = %d %s", resp.StatusCode, body)
			}
			// The session B started is known to A (shared store).
			if resp, body := do(t, cb, "GET", a.URL+"/auth/session", ""); resp.StatusCode != 200 {
				t.Fatalf("B's session on A = %d %s", resp.StatusCode, body)
			}
		})
	}
}

// The password grant cannot carry a second factor: a user with one, or
// whose role must enrol one (login.require_mfa_roles), is refused with
// 400 invalid_grant / mfa_required; others get tokens.
func TestPasswordGrantRefusesMFAUsers(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) { c.Login.RequireMFARoles = []string{"admin"} })
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "root", strongPassword, "admin")
	g.CreateUser(t, "plain", strongPassword)
	enrolTOTP(t, g, "alice")
	tests := []struct {
		user      string
		status    int
		errorCode string
	}{
		{"alice", 400, "invalid_grant"},
		{"root", 400, "invalid_grant"},
		{"plain", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			form := url.Values{"grant_type": {"password"}, "username": {tt.user}, "password": {strongPassword}}
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			m := decode(t, body)
			if resp.StatusCode != tt.status || (tt.errorCode != "" && (m["error"] != tt.errorCode || m["error_description"] != "mfa_required")) {
				t.Fatalf("password grant for %s = %d %s, want %d %s mfa_required", tt.user, resp.StatusCode, body, tt.status, tt.errorCode)
			}
			if tt.status == 200 && m["access_token"] == nil {
				t.Fatalf("no access token: %s", body)
			}
		})
	}
}

// The per-session "Sign out" button of /account: the form POST ends that
// session (and only a session of the caller's).
func TestSignOutOneSessionForm(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	me, other, bob := testutil.Client(t), testutil.Client(t), testutil.Client(t)
	loginJSON(t, me, g.URL, "alice", strongPassword)
	loginJSON(t, other, g.URL, "alice", strongPassword)
	loginJSON(t, bob, g.URL, "bob", strongPassword)
	_, body := do(t, other, "GET", g.URL+"/auth/session", "")
	otherID := decode(t, body)["session"].(map[string]any)["id"].(string)
	if _, page := do(t, me, "GET", g.URL+"/account", ""); !strings.Contains(page, `action="/auth/sessions/`+otherID+`/revoke"`) {
		t.Fatalf("/account has no sign-out form for the other session")
	}
	form := "Content-Type"
	if resp, _ := do(t, bob, "POST", g.URL+"/auth/sessions/"+otherID+"/revoke", "", form, "application/x-www-form-urlencoded"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob signing out alice's session = %d, want 404", resp.StatusCode)
	}
	resp, _ := do(t, me, "POST", g.URL+"/auth/sessions/"+otherID+"/revoke", "", form, "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("sign out one session = %d %q, want 303 /account", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do(t, other, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("the signed-out session = %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, me, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 200 {
		t.Fatalf("own session = %d, want 200", resp.StatusCode)
	}
}

// Wrong second-factor codes count in the login throttle itself: after
// max_failures wrong codes, even the right password is answered 429 (the
// same counters as password failures), so a stolen password does not buy
// unlimited guesses at the code.
func TestWrongCodesCountInLoginThrottle(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) { c.Login.MaxFailures = 3 })
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	c, _ := pendingLogin(t, g, "alice")
	good := mfatest.TOTPCode(t, secret, g.Clock.Now())
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	for i := range 3 {
		if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": wrong}); resp.StatusCode != 401 {
			t.Fatalf("wrong code #%d = %d %s, want 401", i+1, resp.StatusCode, body)
		}
	}
	resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("password login after 3 wrong codes = %d %s (Retry-After %q), want 429 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}
