package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Outside conformance checks of contract §3 and §4 that every store must
// pass alike: what a client can type is answered the same on SQLite and
// PostgreSQL, whatever PostgreSQL's text type refuses.

// startOn starts an instance on store ("sqlite" or "postgres") with
// alice, bob and edit applied.
func startOn(t *testing.T, store string, edit ...func(*config.Config)) *testutil.Instance {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		if dsn != "" {
			c.Store = dsn
		}
		for _, e := range edit {
			e(c)
		}
	}))
	g.CreateUser(t, "alice", strongPassword)
	g.CreateUser(t, "bob", strongPassword)
	return g
}

// plain sends a request with a fresh client (no openapi check: some of
// these requests are malformed on purpose) and returns the body read.
func plain(t *testing.T, method, u, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := testutil.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, testutil.ReadBody(t, resp)
}

// A username with NUL is an unknown user's (no account can have one) on
// every store: the same refusal as any unknown name on the JSON login, the
// form and the password grant, counted by the login throttle. PostgreSQL
// refuses NUL in text, which answered 400 invalid_request, uncounted.
func TestLoginWithNULInUsernameIsAnUnknownUser(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			g := startOn(t, store, func(c *config.Config) { c.Login.MaxFailures = 3 })
			for _, name := range []string{"alice\x00", "\x00"} {
				b, _ := json.Marshal(map[string]string{"username": name, "password": strongPassword})
				resp, body := plain(t, "POST", g.URL+"/auth/login", string(b), "Content-Type", "application/json")
				if resp.StatusCode != http.StatusUnauthorized || decode(t, body)["error"] != "invalid_credentials" {
					t.Errorf("JSON login as %q = %d %s, want 401 invalid_credentials", name, resp.StatusCode, body)
				}
				resp, body = plain(t, "POST", g.URL+"/auth/login",
					url.Values{"username": {name}, "password": {strongPassword}, "next": {"/app/"}}.Encode(), "Content-Type", form)
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?error=1&next=%2Fapp%2F" {
					t.Errorf("form login as %q = %d Location %q %s, want 303 to /login?error=1&next=%%2Fapp%%2F", name, resp.StatusCode, loc, body)
				}
				resp, body = plain(t, "POST", g.URL+"/auth/token",
					url.Values{"grant_type": {"password"}, "username": {name}, "password": {strongPassword}}.Encode(), "Content-Type", form)
				if resp.StatusCode != http.StatusBadRequest || decode(t, body)["error"] != "invalid_grant" {
					t.Errorf("password grant as %q = %d %s, want 400 invalid_grant", name, resp.StatusCode, body)
				}
			}
			// Each refusal is on the audit trail as an unknown user's.
			events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginFailed})
			if err != nil {
				t.Fatal(err)
			}
			unknown := 0
			for _, ev := range events {
				if ev.Details["reason"] == "unknown_user" && !strings.ContainsRune(ev.Username, 0) {
					unknown++
				}
			}
			if unknown != 6 {
				t.Errorf("login.failed events of an unknown user without NUL = %d of %+v, want 6", unknown, events)
			}
			// "\x00" has failed three times from this address: throttled
			// like any other name.
			b, _ := json.Marshal(map[string]string{"username": "\x00", "password": strongPassword})
			resp, body := plain(t, "POST", g.URL+"/auth/login", string(b), "Content-Type", "application/json")
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Errorf("fourth login as NUL = %d %s (Retry-After %q), want 429 with Retry-After",
					resp.StatusCode, body, resp.Header.Get("Retry-After"))
			}
		})
	}
}

// DELETE /auth/sessions/{id} (and the /account form's POST) answers 404
// for any ID that is not one of the caller's sessions, well-formed or not,
// on every store; so do the grant and consent endpoints beside it. On
// PostgreSQL an ID with NUL or bytes that are not UTF-8 was 400.
func TestRevokeByMalformedIDIsNotFound(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			g := startOn(t, store)
			cookieOf := func(user string) string {
				t.Helper()
				b, _ := json.Marshal(map[string]string{"username": user, "password": strongPassword})
				resp, body := plain(t, "POST", g.URL+"/auth/login", string(b), "Content-Type", "application/json")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("login %s = %d %s", user, resp.StatusCode, body)
				}
				c := sessionCookie(t, resp, g.Config.CookieName())
				return c.Name + "=" + c.Value
			}
			alice, bob := cookieOf("alice"), cookieOf("bob")
			_, body := plain(t, "GET", g.URL+"/auth/session", "", "Cookie", bob)
			bobSession, _ := decode(t, body)["session"].(map[string]any)["id"].(string)
			if bobSession == "" {
				t.Fatalf("no session id in %s", body)
			}
			ids := []string{bobSession, strings.Repeat("A", 43), "x", "%00", "a%00b", "%FF", "%C3%28", strings.Repeat("a", 4000)}
			for _, id := range ids {
				for _, p := range []struct{ method, path string }{
					{"DELETE", "/auth/sessions/" + id},
					{"POST", "/auth/sessions/" + id + "/revoke"},
					{"DELETE", "/auth/grants/" + id},
					{"DELETE", "/auth/consents/" + id},
				} {
					resp, body := plain(t, p.method, g.URL+p.path, "", "Cookie", alice, "Origin", g.URL, "Accept", "application/json")
					if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error":"not_found"`) {
						t.Errorf("%s %.60s = %d %s, want 404 not_found", p.method, p.path, resp.StatusCode, body)
					}
				}
			}
			if resp, body := plain(t, "GET", g.URL+"/auth/session", "", "Cookie", bob); resp.StatusCode != http.StatusOK {
				t.Errorf("bob's session after alice's attempts = %d %s, want 200", resp.StatusCode, body)
			}
		})
	}
}

// A JSON login body is one object: more data after it is refused (400
// invalid_request) instead of being ignored; white space after it is fine.
func TestLoginJSONRefusesTrailingData(t *testing.T) {
	g := startOn(t, "sqlite")
	obj := `{"username":"alice","password":"` + strongPassword + `"}`
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"object", obj, http.StatusOK},
		{"object and new line", obj + "\r\n\t ", http.StatusOK},
		{"second object", obj + ` {"username":"bob"}`, http.StatusBadRequest},
		{"garbage", obj + `x`, http.StatusBadRequest},
		{"second value", obj + ` 1`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := plain(t, "POST", g.URL+"/auth/login", tc.body, "Content-Type", "application/json")
			if resp.StatusCode != tc.status {
				t.Fatalf("login = %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == http.StatusBadRequest && decode(t, body)["error"] != "invalid_request" {
				t.Errorf("body %s, want invalid_request", body)
			}
		})
	}
}
