package httpapi_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A browser whose User-Agent is not valid UTF-8 as stored (a Latin-1
// byte, or a long header cut inside a character) logs in on PostgreSQL as
// on SQLite; its session list shows the header clipped, as valid UTF-8.
func TestLoginWithAnyUserAgentOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store = dsn }))
	g.CreateUser(t, "alice", strongPassword)
	tests := []struct{ name, ua string }{
		{"CutInsideACharacter", strings.Repeat("a", 255) + "é"},
		{"Latin1Byte", "Mozilla/5.0 (T\xe9l\xe9phone)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testutil.Client(t)
			if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword, "User-Agent", tt.ua); resp.StatusCode != 200 {
				t.Fatalf("login = %d %s, want 200", resp.StatusCode, body)
			}
			ua, _ := sessionOf(t, g, c)["user_agent"].(string)
			if !utf8.ValidString(ua) || len(ua) > 256 || !strings.HasPrefix(ua, tt.ua[:10]) {
				t.Errorf("user_agent = %q", ua)
			}
		})
	}
}

// A form on an open /account page whose session ended meanwhile (signed
// out from another device, expired, revoked) sends the browser to sign in
// again and come back, as /account itself does, instead of answering the
// API's JSON 401; the API keeps its 401.
func TestAccountFormsAfterTheSessionEnded(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	page := signedIn(t, g, "alice")
	elsewhere := signedIn(t, g, "alice")
	if resp, body := do(t, elsewhere, "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out everywhere else = %d %s", resp.StatusCode, body)
	}
	pw := url.Values{"current_password": {strongPassword}, "new_password": {"a completely different passphrase"}}.Encode()
	tests := []struct{ path, body string }{
		{"/auth/sessions/some-session/revoke", ""},
		{"/auth/sessions/revoke-others", ""},
		{"/auth/password", pw},
		{"/auth/consents/web/revoke", ""},
		{"/auth/grants/some-grant/revoke", ""},
		{"/auth/mfa/totp", ""},
		{"/auth/mfa/totp/confirm", "code=123456"},
		{"/auth/mfa/totp/delete", ""},
		{"/auth/mfa/recovery-codes", ""},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.path, "/auth/"), func(t *testing.T) {
			resp, body := do(t, page, "POST", g.URL+tt.path, tt.body, "Content-Type", "application/x-www-form-urlencoded")
			if got, want := resp.Header.Get("Location"), "/login?next=%2Faccount"; resp.StatusCode != http.StatusSeeOther || got != want {
				t.Errorf("form POST %s = %d %q %s, want 303 to %s", tt.path, resp.StatusCode, got, body, want)
			}
		})
	}
	if resp, body := do(t, page, "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE /auth/sessions = %d %s, want 401", resp.StatusCode, body)
	}
}

// A mistyped code on the "Set up an authenticator app" page shows that
// page again — the same key, not yet active, with the error and the
// confirmation form — instead of the API's JSON 401, which left the browser
// without the key the app had just scanned. The right code then turns the
// app on.
func TestTOTPEnrolmentFormWrongCodeShowsThePageAgain(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	secretOf := func(body string) string {
		t.Helper()
		m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("page without the key: %s", body)
		}
		return m[1]
	}
	confirm := func(page, code string) (*http.Response, string) {
		v := url.Values{"code": {code}}
		for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
			v.Set(h[1], html.UnescapeString(h[2]))
		}
		return do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	resp, page := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrolment page = %d %s", resp.StatusCode, page)
	}
	secret := secretOf(page)
	wrong := "000000"
	if wrong == mfatest.TOTPCode(t, secret, g.Clock.Now()) {
		wrong = "111111"
	}
	resp, again := confirm(page, wrong)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("wrong code = %d %q %s, want 401 with the page", resp.StatusCode, resp.Header.Get("Content-Type"), again)
	}
	if got := secretOf(again); got != secret {
		t.Fatalf("page after a wrong code shows key %s, want the scanned %s", got, secret)
	}
	if !strings.Contains(again, `role="alert"`) || !strings.Contains(again, `action="/auth/mfa/totp/confirm"`) {
		t.Errorf("page after a wrong code lacks the error or the form: %s", again)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (the page shows the key)", got)
	}
	// The right code: the app is on, and the first recovery codes are
	// shown once, with a link back to /account.
	if resp, body := confirm(again, mfatest.TOTPCode(t, secret, g.Clock.Now())); resp.StatusCode != http.StatusOK || len(recoveryCodesOn(body)) != 10 ||
		!strings.Contains(body, `<a class="button" href="/account">Continue</a>`) {
		t.Fatalf("right code = %d %q %s, want 200 with 10 recovery codes and Continue to /account", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if _, body := do(t, c, "GET", g.URL+"/account", ""); !strings.Contains(body, "Authenticator app: <strong>on</strong>") {
		t.Error("/account does not show the authenticator app on")
	}
}

// /account fails closed when the store cannot list the apps the user
// allowed, as it does for the apps' grants: a page that left the list out
// would tell the user no app has access, and offer nothing to withdraw.
// The consents table is dropped under the running instance (PostgreSQL),
// so that only that listing fails.
func TestAccountPageFailsClosedWithoutTheAppsList(t *testing.T) {
	dsn := pgtest.DSN(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store = dsn }))
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	if resp, _ := do(t, c, "GET", g.URL+"/account", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /account = %d, want 200 before the failure", resp.StatusCode)
	}
	pgtest.Exec(t, dsn, "DROP TABLE consents")
	if resp, body := do(t, c, "GET", g.URL+"/account", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("GET /account without a consents table = %d, want 503, not a page without the apps list:\n%.300s", resp.StatusCode, body)
	}
}
