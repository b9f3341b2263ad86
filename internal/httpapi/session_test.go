package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func TestLoginJSONCreatesSession(t *testing.T) {
	g := testutil.Start(t)
	u := g.CreateUser(t, "alice", strongPassword, "user", "admin")
	c := testutil.Client(t)

	resp, body := loginJSON(t, c, g.URL, "alice", strongPassword)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d (%s)", got, want, body)
	}
	m := decode(t, body)
	user := m["user"].(map[string]any)
	if user["id"] != u.ID || user["username"] != "alice" || fmt.Sprint(user["roles"]) != "[admin user]" {
		t.Errorf("user = %v", user)
	}
	if _, err := time.Parse(time.RFC3339, m["session"].(map[string]any)["expires_at"].(string)); err != nil {
		t.Errorf("session.expires_at: %v", err)
	}
	ck := sessionCookie(t, resp, "gatehouse")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(ck.Value) {
		t.Errorf("cookie value %q is not 256 bits of base64url", ck.Value)
	}

	resp, body = do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /auth/session = %d %s", resp.StatusCode, body)
	}
	sess := decode(t, body)["session"].(map[string]any)
	for _, k := range []string{"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent"} {
		if _, ok := sess[k]; !ok {
			t.Errorf("session lacks %q: %v", k, sess)
		}
	}
	if sess["ip"] != "127.0.0.1" {
		t.Errorf("session ip = %v", sess["ip"])
	}
	g.AssertLogsDoNotContain(t, strongPassword, ck.Value)
}

// TestLoginReturnsToRouteHosts: with per-host routes (issue 18) a login
// may return to an absolute URL on a host a route names, and to no other.
func TestLoginReturnsToRouteHosts(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{
			{Name: "app", Match: config.RouteMatch{Host: "app.example.com", PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "session"},
			{Name: "tenants", Match: config.RouteMatch{Host: "*.tenants.example.com", PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "session"},
			{Name: "rest", Match: config.RouteMatch{PathPrefix: "/"}, Upstream: "http://127.0.0.1:1", Auth: "none"},
		}
	}))
	g.CreateUser(t, "alice", strongPassword)
	tests := []struct {
		name, next, want string
	}{
		{"exact host", "https://app.example.com/orders?x=1", "https://app.example.com/orders?x=1"},
		{"wildcard host with port", "https://a.tenants.example.com:8443/x", "https://a.tenants.example.com:8443/x"},
		{"host served only by host-less routes", "https://evil.example/", "/"},
		{"two labels under the wildcard", "https://a.b.tenants.example.com/", "/"},
		{"userinfo trick", "https://app.example.com@evil.example/", "/"},
		{"path still fine", "/x", "/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := loginForm(t, testutil.Client(t), g.URL, "alice", strongPassword, tt.next)
			if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != tt.want {
				t.Errorf("login = %d %q, want 303 %q", resp.StatusCode, got, tt.want)
			}
		})
	}
	t.Run("login page keeps it in the form", func(t *testing.T) {
		_, body := do(t, testutil.Client(t), "GET", g.URL+"/login?next="+url.QueryEscape("https://app.example.com/x"), "")
		if !strings.Contains(body, `value="https://app.example.com/x"`) {
			t.Errorf("login page lost the absolute next")
		}
	})
}

func TestLoginFormRedirects(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	tests := []struct {
		name, next, want string
	}{
		{"same-origin path", "/app/dashboard?x=1", "/app/dashboard?x=1"},
		{"empty", "", "/"},
		{"protocol-relative", "//evil.example", "/"},
		{"absolute URL", "https://evil.example", "/"},
		{"backslash", `/\evil.example`, "/"},
		{"scheme-less host", "evil.example/x", "/"},
		{"javascript", "javascript:alert(1)", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := loginForm(t, testutil.Client(t), g.URL, "alice", strongPassword, tt.next)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("Location = %q, want %q", got, tt.want)
			}
			sessionCookie(t, resp, "gatehouse")
		})
	}
	t.Run("failure goes back to the form", func(t *testing.T) {
		resp, _ := loginForm(t, testutil.Client(t), g.URL, "alice", "wrong password!!", "/app/")
		if got, want := resp.Header.Get("Location"), "/login?error=1&next="+url.QueryEscape("/app/"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("failure = %d %q, want 303 %q", resp.StatusCode, got, want)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("failed login set cookies: %v", resp.Cookies())
		}
	})
}

// Unknown user, wrong password and disabled user must be indistinguishable.
func TestLoginFailuresLookTheSame(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Login.MaxFailures = 100 }))
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "mallory", strongPassword)
	if _, err := g.App.Users.SetDisabled(t.Context(), "mallory", true); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   string
		header string
	}
	attempt := func(user, pw string) result {
		resp, body := loginJSON(t, testutil.Client(t), g.URL, user, pw)
		return result{resp.StatusCode, body, resp.Header.Get("WWW-Authenticate") + "|" + strings.Join(resp.Header.Values("Set-Cookie"), ";")}
	}
	wrong := attempt("alice", "not the password")
	unknown := attempt("nobody", "not the password")
	disabled := attempt("mallory", strongPassword)
	if wrong.status != http.StatusUnauthorized || strings.TrimSpace(wrong.body) != `{"error":"invalid_credentials"}` {
		t.Fatalf("wrong password = %d %s", wrong.status, wrong.body)
	}
	if unknown != wrong || disabled != wrong {
		t.Errorf("responses differ:\nwrong    %+v\nunknown  %+v\ndisabled %+v", wrong, unknown, disabled)
	}
}

func TestLoginReplacesPresetCookie(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	// The attacker plants a well-formed cookie value of their choosing.
	planted := &http.Cookie{Name: "gatehouse", Value: strings.Repeat("A", 43)}
	victim := withCookie(t, g.URL, planted)
	resp, _ := loginJSON(t, victim, g.URL, "alice", strongPassword)
	issued := sessionCookie(t, resp, "gatehouse")
	if issued.Value == planted.Value {
		t.Fatal("login adopted the planted session ID")
	}
	if resp, _ := do(t, withCookie(t, g.URL, planted), "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("planted cookie after login: %d, want 401", resp.StatusCode)
	}

	// A second login in the same browser ends the first session.
	first := issued
	resp, _ = loginJSON(t, withCookie(t, g.URL, first), g.URL, "alice", strongPassword)
	second := sessionCookie(t, resp, "gatehouse")
	if second.Value == first.Value {
		t.Fatal("second login kept the session ID")
	}
	if resp, _ := do(t, withCookie(t, g.URL, first), "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("previous session still valid after re-login: %d", resp.StatusCode)
	}
}

func TestLogoutEndsSessionServerSide(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	resp, _ := loginJSON(t, c, g.URL, "alice", strongPassword)
	ck := sessionCookie(t, resp, "gatehouse")

	resp, _ = do(t, c, "POST", g.URL+"/auth/logout", "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d, want 204", resp.StatusCode)
	}
	cleared := sessionCookie(t, resp, "gatehouse")
	if cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("logout did not clear the cookie: %+v", cleared)
	}
	// Replaying the old cookie (a copy kept by an attacker) fails.
	resp, body := do(t, withCookie(t, g.URL, ck), "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != http.StatusUnauthorized || strings.TrimSpace(body) != `{"error":"unauthorized"}` {
		t.Errorf("old cookie after logout = %d %s, want 401 unauthorized", resp.StatusCode, body)
	}
	// Logging out again is still 204; a form logout redirects to /login.
	if resp, _ := do(t, c, "POST", g.URL+"/auth/logout", ""); resp.StatusCode != http.StatusNoContent {
		t.Errorf("second logout = %d", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", g.URL+"/auth/logout", "", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("form logout = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionExpiry(t *testing.T) {
	clock := testutil.NewClock()
	g := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Sessions.IdleTimeout = config.Duration(30 * time.Minute)
		c.Sessions.AbsoluteTimeout = config.Duration(2 * time.Hour)
	}))
	g.CreateUser(t, "alice", strongPassword)
	status := func(c *http.Client) int {
		resp, _ := do(t, c, "GET", g.URL+"/auth/session", "")
		return resp.StatusCode
	}

	t.Run("idle", func(t *testing.T) {
		c := testutil.Client(t)
		loginJSON(t, c, g.URL, "alice", strongPassword)
		clock.Advance(29 * time.Minute)
		if got := status(c); got != http.StatusOK {
			t.Fatalf("after 29m idle: %d, want 200", got)
		}
		// Activity slid the idle window: another 29 minutes is fine...
		clock.Advance(29 * time.Minute)
		if got := status(c); got != http.StatusOK {
			t.Fatalf("29m after last activity: %d, want 200", got)
		}
		// ...but 31 minutes of silence ends it.
		clock.Advance(31 * time.Minute)
		if got := status(c); got != http.StatusUnauthorized {
			t.Fatalf("after 31m idle: %d, want 401", got)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		c := testutil.Client(t)
		loginJSON(t, c, g.URL, "alice", strongPassword)
		for i := 0; i < 7; i++ { // active every 20 minutes for 2h20m
			clock.Advance(20 * time.Minute)
			got := status(c)
			if want := http.StatusOK; i >= 5 {
				want = http.StatusUnauthorized
				if got != want {
					t.Fatalf("at %dm: %d, want %d", (i+1)*20, got, want)
				}
			} else if got != want {
				t.Fatalf("at %dm: %d, want %d", (i+1)*20, got, want)
			}
		}
	})
}

func TestRevokeSessions(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	devices := make([]*http.Client, 3)
	for i := range devices {
		devices[i] = testutil.Client(t)
		loginJSON(t, devices[i], g.URL, "alice", strongPassword)
	}
	bob := testutil.Client(t)
	loginJSON(t, bob, g.URL, "bob", strongPassword)

	resp, body := do(t, devices[0], "GET", g.URL+"/auth/sessions", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list = %d", resp.StatusCode)
	}
	list := decode(t, body)["sessions"].([]any)
	if len(list) != 3 {
		t.Fatalf("alice has %d sessions, want 3", len(list))
	}
	var current, other string
	for _, s := range list {
		m := s.(map[string]any)
		if m["current"] == true {
			current = m["id"].(string)
		} else {
			other = m["id"].(string)
		}
	}
	if current == "" || other == "" {
		t.Fatalf("no current/other session in %v", list)
	}

	// Bob cannot revoke Alice's session: 404, and it survives.
	if resp, _ := do(t, bob, "DELETE", g.URL+"/auth/sessions/"+other, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob revoking alice's session = %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, devices[0], "DELETE", g.URL+"/auth/sessions/"+other, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke one = %d, want 204", resp.StatusCode)
	}
	alive := 0
	for _, d := range devices {
		if resp, _ := do(t, d, "GET", g.URL+"/auth/session", ""); resp.StatusCode == http.StatusOK {
			alive++
		}
	}
	if alive != 2 {
		t.Fatalf("%d sessions alive after revoking one of 3, want 2", alive)
	}

	if resp, _ := do(t, devices[0], "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke others = %d, want 204", resp.StatusCode)
	}
	for i, d := range devices {
		resp, _ := do(t, d, "GET", g.URL+"/auth/session", "")
		if want := map[bool]int{true: 200, false: 401}[i == 0]; resp.StatusCode != want {
			t.Errorf("device %d after revoke-others: %d, want %d", i, resp.StatusCode, want)
		}
	}
	if resp, _ := do(t, bob, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("bob's session was touched by alice's revoke-others: %d", resp.StatusCode)
	}
	if resp, _ := do(t, testutil.Client(t), "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoke-others without a session = %d, want 401", resp.StatusCode)
	}
}

func TestCookieFlags(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*config.Config)
		cookieName string
		secure     bool
	}{
		{"plain http", func(*config.Config) {}, "gatehouse", false},
		{"secure true", func(c *config.Config) { c.Sessions.Cookie.Secure = "true" }, "__Host-gatehouse", true},
		{"https public_url (TLS at a proxy)", func(c *config.Config) { c.PublicURL = "https://auth.example.com" }, "__Host-gatehouse", true},
		{"secure false despite https", func(c *config.Config) {
			c.PublicURL = "https://auth.example.com"
			c.Sessions.Cookie.Secure = "false"
		}, "gatehouse", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testutil.Start(t, testutil.WithConfig(tt.mutate))
			g.CreateUser(t, "alice", strongPassword)
			resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
			raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
			if !strings.HasPrefix(raw, tt.cookieName+"=") {
				t.Fatalf("Set-Cookie %q does not set %s", raw, tt.cookieName)
			}
			for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(raw, attr) {
					t.Errorf("Set-Cookie %q lacks %s", raw, attr)
				}
			}
			if got := strings.Contains(raw, "; Secure"); got != tt.secure {
				t.Errorf("Secure = %v, want %v (%q)", got, tt.secure, raw)
			}
			if strings.Contains(raw, "Domain=") {
				t.Errorf("Set-Cookie %q sets a Domain", raw)
			}
		})
	}
}

func TestLoginThrottling(t *testing.T) {
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Login.MaxFailures = 3 }))
	g.CreateUser(t, "alice", strongPassword)
	// Loopback is a trusted proxy by default, so X-Forwarded-For names the client.
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }

	for i := 0; i < 3; i++ {
		resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!", from("203.0.113.7")...)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, from("203.0.113.7")...)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("correct password from the throttled IP = %d %s (Retry-After %q), want 429 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// The token endpoint shares the counters.
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}}
	resp, _ = do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(),
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, from("203.0.113.7")...)...)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("password grant from the throttled IP = %d, want 429", resp.StatusCode)
	}
	// Policy (docs/security.md): another IP may still log in to the account
	// until the account-wide limit (4 × max_failures) is reached.
	resp, _ = loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, from("198.51.100.9")...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("correct login from another IP = %d, want 200", resp.StatusCode)
	}
	for i := 0; i < 12; i++ {
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!", from(ip)...)
	}
	resp, _ = loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, from("198.51.100.10")...)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 4×max_failures from many IPs, a new IP = %d, want 429", resp.StatusCode)
	}
}

func TestCrossOriginStateChangeRefused(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", strongPassword)
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"cross-site fetch metadata", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"foreign Origin", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"same-origin", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := do(t, c, "DELETE", g.URL+"/auth/sessions", "", tt.header...)
			if resp.StatusCode != tt.want {
				t.Errorf("DELETE /auth/sessions = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// A cross-site login form post (login CSRF) is refused too.
	resp, _ := loginForm(t, testutil.Client(t), g.URL, "alice", strongPassword, "/", "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login = %d, want 403", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", g.URL+"/auth/logout", "", "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site logout = %d, want 403", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("session died after refused cross-origin requests: %d", resp.StatusCode)
	}
}

func TestPages(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	resp, body := do(t, c, "GET", g.URL+"/login?next=/app/&error=1", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/auth/login"`) || !strings.Contains(body, `value="/app/"`) || !strings.Contains(body, "Invalid username or password") {
		t.Fatalf("login page = %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(body, "<script") {
		t.Errorf("login page CSP %q / has script", csp)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/account", ""); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("account without session = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	loginForm(t, c, g.URL, "alice", strongPassword, "/account")
	resp, body = do(t, c, "GET", g.URL+"/account", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") || !strings.Contains(body, "this session") || !strings.Contains(body, `action="/auth/logout"`) {
		t.Fatalf("account page = %d %s", resp.StatusCode, body)
	}
}

func TestHealth(t *testing.T) {
	g := testutil.Start(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, testutil.Client(t), "GET", g.URL+p, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s = %d %s", p, resp.StatusCode, body)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	g := testutil.Start(t)
	big := `{"username":"` + strings.Repeat("a", 2<<20) + `","password":"x"}`
	resp, _ := do(t, testutil.Client(t), "POST", g.URL+"/auth/login", big, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("2 MiB login body = %d, want 400", resp.StatusCode)
	}
}

// TestLogoutWithSeveralSessionCookiesEndsEach: a browser may hold the
// session cookie twice (under another path or domain; a sibling subdomain
// can toss one in for /auth/logout alone). Such a request authenticates as
// none, but its logout must still end every session it names, or the user
// is told they are signed out while their session lives on. A login from
// such a browser ends each too (no session is adopted or left behind).
func TestLogoutWithSeveralSessionCookiesEndsEach(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	login := func(name string) *http.Cookie {
		t.Helper()
		resp, _ := loginJSON(t, testutil.Client(t), g.URL, name, strongPassword)
		return sessionCookie(t, resp, "gatehouse")
	}
	live := func(ck *http.Cookie) bool {
		t.Helper()
		resp, _ := do(t, withCookie(t, g.URL, ck), "GET", g.URL+"/auth/session", "")
		return resp.StatusCode == http.StatusOK
	}
	tests := []struct {
		name  string
		end   func(cookie string) (*http.Response, string)
		other string // the second session's user
	}{
		{"logout", func(cookie string) (*http.Response, string) {
			return do(t, testutil.Client(t), "POST", g.URL+"/auth/logout", "", "Cookie", cookie)
		}, "alice"},
		{"logout, another user's session too", func(cookie string) (*http.Response, string) {
			return do(t, testutil.Client(t), "POST", g.URL+"/auth/logout", "", "Cookie", cookie)
		}, "bob"},
		{"login", func(cookie string) (*http.Response, string) {
			return loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword, "Cookie", cookie)
		}, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := login("alice"), login(tt.other)
			resp, body := tt.end("gatehouse=" + a.Value + "; gatehouse=not-a-session; gatehouse=" + b.Value)
			if resp.StatusCode >= 300 {
				t.Fatalf("= %d %s", resp.StatusCode, body)
			}
			if live(a) || live(b) {
				t.Errorf("sessions still live after the request: first %v, second %v", live(a), live(b))
			}
		})
	}
}
