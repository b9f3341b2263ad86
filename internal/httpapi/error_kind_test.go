package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// errorKindInstance is a gatehouse with every factor on (TOTP, passkeys)
// whose sessions, throttles and deny-lists live in Redis behind proxy, and
// the session cookie and access token of alice, taken before the caller
// stops proxy: then every endpoint below fails (503, or 400/401 before it
// needs a store) and the test reads how the failure is answered.
func errorKindInstance(t *testing.T) (g *testutil.Instance, proxy *redistest.Proxy, cookie *http.Cookie, tok string) {
	t.Helper()
	proxy = redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	g = mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin // a domain name: passkeys on
		c.Redis.URL, c.Redis.KeyPrefix = proxy.URL(), prefix
		c.Sessions.Store = "redis"
	})
	g.CreateUser(t, "alice", strongPassword)
	resp, body := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	tok, _ = passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	return g, proxy, sessionCookie(t, resp, "gatehouse"), tok
}

// errorKind is how a failed request was answered: "html" (an error page)
// or "json" (the JSON error).
func errorKind(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	if resp.StatusCode < 400 {
		t.Fatalf("status = %d %.200s, want a failure", resp.StatusCode, body)
	}
	switch ct := resp.Header.Get("Content-Type"); {
	case strings.HasPrefix(ct, "text/html") && strings.Contains(body, "<html"):
		return "html"
	case strings.HasPrefix(ct, "application/json"):
		decode(t, body)
		return "json"
	default:
		t.Fatalf("Content-Type %q, body %.200s: neither a page nor JSON", ct, body)
		return ""
	}
}

// TestErrorAnswerKindPerEndpoint pins, per endpoint, how a failure is
// answered to a browser posting a form (Accept: text/html, as browsers
// send it) and to an API client: gatehouse's own form endpoints (the
// login, second-step, account, consent and sign-out forms) answer the
// browser with an HTML error page and the API client with JSON; the OAuth
// token endpoint (RFC 6749 §5.2), revocation (RFC 7009), userinfo and the
// JSON login answer JSON to both, whatever Accept says; the authorization
// and end-session endpoints answer a request they refuse with their own
// pages, and a store outage as the form endpoints do.
func TestErrorAnswerKindPerEndpoint(t *testing.T) {
	g, proxy, cookie, tok := errorKindInstance(t)
	proxy.Stop()
	const form, json = formType, "application/json"
	tests := []struct {
		name, path   string
		contentType  string
		body         string
		anonymous    bool   // sent without the session cookie
		browser, api string // kind of answer: "html" or "json"
	}{
		{"login form", "/auth/login", form, "username=alice&password=x", true, "html", "json"},
		{"JSON login", "/auth/login", json, `{"username":"alice","password":"x"}`, true, "json", "json"},
		{"logout form", "/auth/logout", form, "", false, "html", "json"},
		{"sign out a session", "/auth/sessions/x/revoke", form, "", false, "html", "json"},
		{"sign out other sessions", "/auth/sessions/revoke-others", form, "", false, "html", "json"},
		{"password change", "/auth/password", form, "current_password=a&new_password=b", false, "html", "json"},
		{"second step", "/auth/login/mfa", form, "method=totp&code=123456", false, "html", "json"},
		{"TOTP enrolment", "/auth/mfa/totp", form, "", false, "html", "json"},
		{"TOTP confirmation", "/auth/mfa/totp/confirm", form, "code=123456", false, "html", "json"},
		{"TOTP removal", "/auth/mfa/totp/delete", form, "", false, "html", "json"},
		{"recovery codes", "/auth/mfa/recovery-codes", form, "", false, "html", "json"},
		{"passkey registration form", "/auth/webauthn/register/begin", form, "name=laptop", false, "html", "json"},
		{"passkey removal", "/auth/webauthn/x/delete", form, "", false, "html", "json"},
		{"withdraw consent", "/auth/consents/web/revoke", form, "", false, "html", "json"},
		{"revoke a grant", "/auth/grants/x/revoke", form, "", false, "html", "json"},
		{"consent form", "/auth/authorize", form, "consent_token=x&client_id=web", false, "html", "html"},
		{"end-session confirmation", "/auth/end_session", form, "", false, "html", "json"},
		{"token endpoint", "/auth/token", form, "grant_type=password&username=alice&password=x", true, "json", "json"},
		{"revocation", "/auth/revoke", form, "token=" + tok, true, "json", "json"},
		{"userinfo", "/auth/userinfo", form, "", true, "json", "json"},
		{"userinfo with a session", "/auth/userinfo", form, "", false, "json", "json"},
	}
	for _, tt := range tests {
		for _, browser := range []bool{true, false} {
			want, accept := tt.api, "application/json"
			if browser {
				want, accept = tt.browser, browserHTML
			}
			t.Run(tt.name+map[bool]string{true: ", browser", false: ", API"}[browser], func(t *testing.T) {
				c := testutil.Client(t)
				if !tt.anonymous {
					c = withCookie(t, g.URL, cookie)
				}
				resp, body := do(t, c, "POST", g.URL+tt.path, tt.body, "Content-Type", tt.contentType, "Accept", accept)
				if got := errorKind(t, resp, body); got != want {
					t.Errorf("%d answered as %s (%.200s), want %s", resp.StatusCode, got, body, want)
				}
				if tt.path == "/auth/token" && resp.Header.Get("Pragma") != "no-cache" {
					t.Errorf("token endpoint: Pragma = %q, want the RFC 6749 §5.2 error's no-cache", resp.Header.Get("Pragma"))
				}
			})
		}
	}
}

// TestErrorPageUnauthorizedCarriesChallenge: a 401 that a form endpoint
// answers with an HTML page carries the same WWW-Authenticate as the JSON
// 401 of the same request (RFC 9110 §15.5.2: every 401 has one), here the
// passkey registration form posted without a session.
func TestErrorPageUnauthorizedCarriesChallenge(t *testing.T) {
	g, _, _, _ := errorKindInstance(t)
	for _, accept := range []string{browserHTML, "application/json"} {
		t.Run(accept, func(t *testing.T) {
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/webauthn/register/begin", "name=laptop",
				"Content-Type", formType, "Accept", accept)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d %.200s, want 401", resp.StatusCode, body)
			}
			if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="gatehouse"`; got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
		})
	}
}
