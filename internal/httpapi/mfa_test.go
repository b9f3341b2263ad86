package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

const encryptionKey = "0123456789abcdef0123456789abcdef-test"

// mfaInstance starts gatehouse with keys.encryption_key (TOTP secrets are
// sealed with it) and a settable clock.
func mfaInstance(t *testing.T, edit ...func(*config.Config)) *testutil.Instance {
	t.Helper()
	clock := testutil.NewClock()
	return testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(func(c *config.Config) {
		c.Keys.EncryptionKey = encryptionKey
		for _, e := range edit {
			e(c)
		}
	}))
}

func postJSON(t *testing.T, c *http.Client, u string, v any) (*http.Response, string) {
	t.Helper()
	b, _ := json.Marshal(v)
	return do(t, c, "POST", u, string(b), "Content-Type", "application/json")
}

// enrolTOTP logs name in with a password, enrols and confirms TOTP, and
// returns the secret; the clock then moves past the confirmation code.
func enrolTOTP(t *testing.T, g *testutil.Instance, name string) string {
	t.Helper()
	c := testutil.Client(t)
	if resp, body := loginJSON(t, c, g.URL, name, strongPassword); resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /auth/mfa/totp = %d %s", resp.StatusCode, body)
	}
	m := decode(t, body)
	secret, _ := m["secret"].(string)
	if secret == "" || !strings.HasPrefix(m["otpauth_uri"].(string), "otpauth://totp/") || !strings.HasPrefix(m["qr_svg"].(string), "<svg") {
		t.Fatalf("enrolment body = %s", body)
	}
	if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 204 {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	g.Clock.Advance(time.Minute)
	return secret
}

// pendingLogin does the password step and returns the client holding the
// pending cookie.
func pendingLogin(t *testing.T, g *testutil.Instance, name string) (*http.Client, map[string]any) {
	t.Helper()
	c := testutil.Client(t)
	resp, body := loginJSON(t, c, g.URL, name, strongPassword)
	if resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == g.App.Sessions.CookieName() && ck.MaxAge >= 0 {
			t.Fatalf("password step of an MFA user set a session cookie")
		}
	}
	pc := sessionCookie(t, resp, "gatehouse_mfa")
	if !pc.HttpOnly || pc.MaxAge != 300 {
		t.Fatalf("pending cookie HttpOnly=%v MaxAge=%d, want HttpOnly, 300", pc.HttpOnly, pc.MaxAge)
	}
	return c, decode(t, body)
}

func TestMFALoginTwoSteps(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")

	c, m := pendingLogin(t, g, "alice")
	if m["mfa_required"] != true || !slices.Contains(anyStrings(m["methods"]), "totp") {
		t.Fatalf("password step = %v, want mfa_required with totp", m)
	}
	// Skipping the second step: the pending cookie is no session.
	for _, path := range []string{"/auth/session", "/auth/sessions", "/auth/userinfo"} {
		if resp, body := do(t, c, "GET", g.URL+path, ""); resp.StatusCode != 401 {
			t.Fatalf("GET %s with only the pending cookie = %d %s, want 401", path, resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, c, "GET", g.URL+"/account", ""); resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /account with only the pending cookie = %d, want 302 to /login", resp.StatusCode)
	}
	resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
	if resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/auth/session after second step = %d %s", resp.StatusCode, body)
	}
	sess := decode(t, body)["session"].(map[string]any)
	if got := anyStrings(sess["amr"]); !slices.Equal(got, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("session amr = %v, want [pwd otp mfa]", got)
	}
	resp, body = do(t, c, "GET", g.URL+"/auth/sessions", "")
	if !strings.Contains(body, `"amr":["pwd","otp","mfa"]`) {
		t.Fatalf("/auth/sessions = %d %s, want amr", resp.StatusCode, body)
	}
	g.AssertLogsDoNotContain(t, secret)
}

func TestMFAFormGoesToSecondStepPage(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	c := testutil.Client(t)
	resp, _ := loginForm(t, c, g.URL, "alice", strongPassword, "/app/x")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/mfa?next=%2Fapp%2Fx" {
		t.Fatalf("form login = %d %q, want 303 to /login/mfa?next=", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := do(t, c, "GET", g.URL+"/login/mfa?next=%2Fapp%2Fx", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/login/mfa"`) || strings.Contains(body, "<script") {
		t.Fatalf("GET /login/mfa = %d %s", resp.StatusCode, body)
	}
	form := url.Values{"method": {"totp"}, "code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}, "next": {"/app/x"}}
	resp, _ = do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/app/x" {
		t.Fatalf("second step form = %d %q, want 303 to /app/x", resp.StatusCode, resp.Header.Get("Location"))
	}
	sessionCookie(t, resp, g.App.Sessions.CookieName())
}

func TestMFAAttacks(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) { c.Login.MaxFailures = 3 })
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	aliceSecret := enrolTOTP(t, g, "alice")
	bobSecret := enrolTOTP(t, g, "bob")
	second := func(c *http.Client, code string) (*http.Response, string) {
		return postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": code})
	}

	t.Run("PendingCookieOfAWithCodeOfB", func(t *testing.T) {
		a, _ := pendingLogin(t, g, "alice")
		if resp, body := second(a, mfatest.TOTPCode(t, bobSecret, g.Clock.Now())); resp.StatusCode != 401 {
			t.Fatalf("alice's pending cookie + bob's code = %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("ReplayRefused", func(t *testing.T) {
		g.Clock.Advance(time.Minute)
		code := mfatest.TOTPCode(t, bobSecret, g.Clock.Now())
		b1, _ := pendingLogin(t, g, "bob")
		if resp, body := second(b1, code); resp.StatusCode != 200 {
			t.Fatalf("first use = %d %s", resp.StatusCode, body)
		}
		b2, _ := pendingLogin(t, g, "bob")
		if resp, body := second(b2, code); resp.StatusCode != 401 {
			t.Fatalf("replayed code = %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("ForgedPendingCookie", func(t *testing.T) {
		c := withCookie(t, g.URL, &http.Cookie{Name: "gatehouse_mfa", Value: strings.Repeat("A", 80)})
		if resp, body := second(c, mfatest.TOTPCode(t, aliceSecret, g.Clock.Now())); resp.StatusCode != 401 {
			t.Fatalf("forged pending cookie = %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("BruteForceThrottled", func(t *testing.T) {
		// Alice's wrong code above still counts (a right password does
		// not clear it): start after the window.
		g.Clock.Advance(time.Hour)
		a, _ := pendingLogin(t, g, "alice")
		good := mfatest.TOTPCode(t, aliceSecret, g.Clock.Now())
		var last int
		for i := range 6 {
			code := "000000"
			if code == good {
				code = "111111"
			}
			resp, _ := second(a, code)
			last = resp.StatusCode
			if i < 3 && last != 401 {
				t.Fatalf("wrong code #%d = %d, want 401", i+1, last)
			}
		}
		if last != 429 {
			t.Fatalf("after 6 wrong codes = %d, want 429", last)
		}
		if resp, _ := second(a, good); resp.StatusCode != 429 {
			t.Fatalf("right code while throttled = %d, want 429", resp.StatusCode)
		}
	})
	t.Run("PasswordGrantRefused", func(t *testing.T) {
		form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {strongPassword}}
		resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
		m := decode(t, body)
		if resp.StatusCode != 400 || m["error"] != "invalid_grant" || m["error_description"] != "mfa_required" {
			t.Fatalf("password grant for MFA user = %d %s, want 400 invalid_grant mfa_required", resp.StatusCode, body)
		}
	})
	t.Run("ChangingFactorsNeedsRecentLogin", func(t *testing.T) {
		g.CreateUser(t, "carol", strongPassword)
		c := testutil.Client(t)
		loginJSON(t, c, g.URL, "carol", strongPassword)
		g.Clock.Advance(6 * time.Minute)
		for _, p := range []struct{ method, path string }{{"POST", "/auth/mfa/totp"}, {"POST", "/auth/mfa/recovery-codes"}, {"DELETE", "/auth/mfa/totp"}} {
			if resp, body := do(t, c, p.method, g.URL+p.path, "", "Content-Type", "application/json"); resp.StatusCode != 403 {
				t.Fatalf("%s %s 6 min after login = %d %s, want 403", p.method, p.path, resp.StatusCode, body)
			}
		}
	})
	t.Run("PendingCookieCannotChangeFactors", func(t *testing.T) {
		a, _ := pendingLogin(t, g, "alice")
		if resp, body := do(t, a, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != 401 {
			t.Fatalf("DELETE /auth/mfa/totp with the pending cookie = %d %s, want 401", resp.StatusCode, body)
		}
	})
}

func TestRecoveryCodeLogin(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	c, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	// Older than 5 minutes, but the session used a second factor.
	g.Clock.Advance(10 * time.Minute)
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
	}
	codes := anyStrings(decode(t, body)["codes"])
	if len(codes) != 10 {
		t.Fatalf("got %d codes, want 10", len(codes))
	}
	for i, want := range []int{200, 401} {
		p, m := pendingLogin(t, g, "alice")
		if !slices.Contains(anyStrings(m["methods"]), "recovery") {
			t.Fatalf("methods = %v, want recovery", m["methods"])
		}
		if resp, body := postJSON(t, p, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": codes[0]}); resp.StatusCode != want {
			t.Fatalf("recovery code use #%d = %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
	}
}

func TestRequireMFARolesEnrolsBeforeSession(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) { c.Login.RequireMFARoles = []string{"admin"} })
	g.CreateUser(t, "root", strongPassword, "admin")
	c, m := pendingLogin(t, g, "root")
	if m["mfa_required"] != true || m["enrolment_required"] != true {
		t.Fatalf("password step = %v, want mfa_required + enrolment_required", m)
	}
	if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 401 {
		t.Fatalf("/auth/session before enrolment = %d, want 401", resp.StatusCode)
	}
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("enrol with pending cookie = %d %s", resp.StatusCode, body)
	}
	secret := decode(t, body)["secret"].(string)
	resp, body = postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
	if resp.StatusCode != 204 {
		t.Fatalf("confirm = %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, c, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"amr":["pwd","otp","mfa"]`) {
		t.Fatalf("/auth/session after enrolment = %d %s", resp.StatusCode, body)
	}
}

func TestTOTPEnrolmentNeedsEncryptionKey(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", strongPassword)
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
	if resp.StatusCode != 400 {
		t.Fatalf("enrol without keys.encryption_key = %d %s, want 400", resp.StatusCode, body)
	}
	// docs/mfa.md: the JSON answer names the key to set, as the form's
	// error page does; a bare invalid_request leaves the operator guessing.
	got := decode(t, body)
	if got["error"] != "invalid_request" || !strings.Contains(descr(got), "keys.encryption_key") {
		t.Fatalf("enrol without keys.encryption_key: body %s, want invalid_request with an error_description naming keys.encryption_key", body)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestMFARouteStepUp(t *testing.T) {
	up := newUpstream(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.Routes = []config.Route{{Name: "admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: up.URL, Auth: "any", MFA: true}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	secret := enrolTOTP(t, g, "alice")

	// A password-only token: RFC 9470 challenge.
	form := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {strongPassword}}
	_, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	tok, _ := decode(t, body)["access_token"].(string)
	resp, body := do(t, testutil.Client(t), "GET", g.URL+"/admin/x", "", "Authorization", "Bearer "+tok)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_user_authentication"`) {
		t.Fatalf("password-only token on mfa route = %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	// A password-only session in a browser: step-up.
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "bob", strongPassword)
	resp, _ = do(t, c, "GET", g.URL+"/admin/x?y=1", "", "Accept", "text/html")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/login/mfa?next=%2Fadmin%2Fx%3Fy%3D1" {
		t.Fatalf("password-only session = %d %q, want 302 to /login/mfa", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Bob has no factor: /login/mfa offers enrolment.
	if resp, body := do(t, c, "GET", g.URL+"/login/mfa?next=%2Fadmin%2Fx", ""); resp.StatusCode != 200 || !strings.Contains(body, `action="/auth/mfa/totp"`) {
		t.Fatalf("/login/mfa for a user without factor = %d %s, want the enrolment offer", resp.StatusCode, body)
	}

	// Alice after both steps passes, and the upstream sees X-Auth-AMR.
	a, _ := pendingLogin(t, g, "alice")
	postJSON(t, a, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
	resp, body = do(t, a, "GET", g.URL+"/admin/x", "", "Accept", "text/html")
	if resp.StatusCode != 200 {
		t.Fatalf("session with second factor = %d %s", resp.StatusCode, body)
	}
	if got := up.seen().Header.Get("X-Auth-AMR"); got != "pwd,otp,mfa" {
		t.Fatalf("X-Auth-AMR = %q, want pwd,otp,mfa", got)
	}
	// Step-up from a password-only session gives a new session ID.
	g.Clock.Advance(time.Minute)
	s := testutil.Client(t)
	loginJSON(t, s, g.URL, "alice", strongPassword) // pending cookie only
	postJSON(t, s, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
	_, before := do(t, s, "GET", g.URL+"/auth/session", "")
	g.Clock.Advance(time.Minute)
	resp, body = postJSON(t, s, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
	_, after := do(t, s, "GET", g.URL+"/auth/session", "")
	if resp.StatusCode != 200 || decode(t, before)["session"].(map[string]any)["id"] == decode(t, after)["session"].(map[string]any)["id"] {
		t.Fatalf("step-up = %d %s; session id before %s after %s, want a new one", resp.StatusCode, body, before, after)
	}
}

// TestTOTPReplayOnSecondInstance runs two gatehouse instances on one store,
// with and without Redis: a code accepted by one is refused by the other.
func TestTOTPReplayOnSecondInstance(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "Store", true: "Redis"}[withRedis], func(t *testing.T) {
			dir := t.TempDir()
			clock := testutil.NewClock()
			redisURL, prefix := "", ""
			if withRedis {
				redisURL, prefix = redistest.New(t)
			}
			shared := func(c *config.Config) {
				c.Store = "sqlite://" + filepath.Join(dir, "shared.db")
				c.Keys.EncryptionKey = encryptionKey
				c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
			}
			a := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
			b := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
			u := a.CreateUser(t, "alice", strongPassword)
			secret := enrolTOTP(t, a, "alice")
			if withRedis { // the replay cache lives in Redis, one key per user
				rc := goredis.NewClient(&goredis.Options{Addr: redistest.Addr})
				defer rc.Close()
				if n, err := rc.Exists(context.Background(), prefix+"totp-step:"+u.ID).Result(); err != nil || n != 1 {
					t.Fatalf("Redis key %stotp-step:<id> exists = %d, %v; want 1", prefix, n, err)
				}
			}
			code := mfatest.TOTPCode(t, secret, clock.Now())

			ca, _ := pendingLogin(t, a, "alice")
			if resp, body := postJSON(t, ca, a.URL+"/auth/login/mfa", map[string]string{"code": code}); resp.StatusCode != 200 {
				t.Fatalf("code on instance A = %d %s", resp.StatusCode, body)
			}
			cb, _ := pendingLogin(t, b, "alice")
			if resp, body := postJSON(t, cb, b.URL+"/auth/login/mfa", map[string]string{"code": code}); resp.StatusCode != 401 {
				t.Fatalf("same code on instance B = %d %s, want 401", resp.StatusCode, body)
			}
		})
	}
}

// idTokenAMR exchanges code for the public client spa and returns the amr
// claim of the ID token.
func idTokenAMR(t *testing.T, g *testutil.Instance, code, verifier string) []string {
	t.Helper()
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"spa"},
		"redirect_uri": {"https://spa.example.com/cb"}, "code_verifier": {verifier}}, "", "")
	idt, _ := m["id_token"].(string)
	parts := strings.Split(idt, ".")
	if resp.StatusCode != 200 || len(parts) != 3 {
		t.Fatalf("code exchange = %d %v, want an ID token", resp.StatusCode, m)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.AMR
}

// An app learns how the user signed in: the ID token of a code issued in a
// session that used a second factor carries that session's amr, a
// password-only session's carries pwd.
func TestIDTokenCarriesSessionAMR(t *testing.T) {
	g := mfaInstance(t, func(c *config.Config) {
		c.Clients = []config.Client{{ID: "spa", Type: "public", FirstParty: true, RedirectURIs: []string{"https://spa.example.com/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}}}
	})
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	secret := enrolTOTP(t, g, "alice")
	c, _ := pendingLogin(t, g, "alice")
	if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != 200 {
		t.Fatalf("second step = %d %s", resp.StatusCode, body)
	}
	tests := []struct {
		name string
		b    *http.Client
		want []string
	}{
		{"second factor", c, []string{"pwd", "otp", "mfa"}},
		{"password only", browser(t, g, "bob"), []string{"pwd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			code := codeFor(t, g, tt.b, "spa", "https://spa.example.com/cb", verifier, "openid")
			if got := idTokenAMR(t, g, code, verifier); !slices.Equal(got, tt.want) {
				t.Fatalf("ID token amr = %v, want %v", got, tt.want)
			}
		})
	}
}

// descr is the error_description of a decoded JSON error ("" without one).
func descr(m map[string]any) string {
	s, _ := m["error_description"].(string)
	return s
}

// The otpauth URI names the deployment by mfa.totp_issuer, in its issuer
// parameter and its label prefix ("Acme Staging:alice"), so that several
// deployments tell apart in an authenticator app; "gatehouse" by default.
func TestTOTPEnrolmentNamesTheConfiguredIssuer(t *testing.T) {
	for _, tt := range []struct{ issuer, want string }{{"", "gatehouse"}, {"Acme Staging", "Acme Staging"}} {
		t.Run(tt.want, func(t *testing.T) {
			g := mfaInstance(t, func(c *config.Config) {
				if tt.issuer != "" {
					c.MFA.TOTPIssuer = tt.issuer
				}
			})
			g.CreateUser(t, "alice", strongPassword)
			c := testutil.Client(t)
			loginJSON(t, c, g.URL, "alice", strongPassword)
			resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
			if resp.StatusCode != 200 {
				t.Fatalf("POST /auth/mfa/totp = %d %s", resp.StatusCode, body)
			}
			raw, _ := decode(t, body)["otpauth_uri"].(string)
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("otpauth_uri %q: %v", raw, err)
			}
			if got := u.Query().Get("issuer"); got != tt.want {
				t.Errorf("issuer parameter = %q, want %q (%s)", got, tt.want, raw)
			}
			if got, want := u.Path, "/"+tt.want+":alice"; got != want {
				t.Errorf("label = %q, want %q (%s)", got, want, raw)
			}
		})
	}
}
