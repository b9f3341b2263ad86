package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A signed-in user who begins another password login in the same browser
// and leaves it at the second step (a second tab, a back button; or a
// client whose cookie jar kept the pending cookie) still changes their
// factors with their session: the pending cookie authenticates only its
// own second step and the enrolment its login must make (docs/mfa.md), so
// the factor changes of /account are judged by the session. They were
// refused (401; the form sent the signed-in user to /login) for the
// pending cookie's 5 minutes.
func TestFactorChangesOfASessionBesideAnUnfinishedLogin(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	type factors struct {
		secret string
		key    *mfatest.Key
	}
	cases := []struct {
		name   string
		change func(t *testing.T, c *http.Client, f factors) (*http.Response, string)
		want   int
		// code: the unfinished login's second step with the app's code
		// afterwards (401 once the app is turned off).
		code int
	}{
		{"new recovery codes", func(t *testing.T, c *http.Client, _ factors) (*http.Response, string) {
			return do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
		}, http.StatusOK, http.StatusOK},
		{"new recovery codes, /account form", func(t *testing.T, c *http.Client, _ factors) (*http.Response, string) {
			return do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		}, http.StatusOK, http.StatusOK},
		{"turn off the authenticator app", func(t *testing.T, c *http.Client, _ factors) (*http.Response, string) {
			return do(t, c, "DELETE", g.URL+"/auth/mfa/totp", "")
		}, http.StatusNoContent, http.StatusUnauthorized},
		{"add a passkey", func(t *testing.T, c *http.Client, _ factors) (*http.Response, string) {
			return postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
		}, http.StatusOK, http.StatusOK},
		{"remove a passkey", func(t *testing.T, c *http.Client, f factors) (*http.Response, string) {
			return do(t, c, "DELETE", g.URL+"/auth/webauthn/"+f.key.ID64(), "")
		}, http.StatusNoContent, http.StatusOK},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "user" + string(rune('a'+i))
			g.CreateUser(t, name, strongPassword)
			c := signedIn(t, g, name)
			f := factors{secret: enrolTOTPIn(t, g, c), key: registerPasskey(t, g, c, securityKey(), "YubiKey")}

			// Another login in the same browser, left at its second step.
			resp, body := loginJSON(t, c, g.URL, name, strongPassword)
			if resp.StatusCode != 200 || decode(t, body)["mfa_required"] != true {
				t.Fatalf("second password login = %d %s, want 200 mfa_required", resp.StatusCode, body)
			}
			if resp, body := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != 200 {
				t.Fatalf("GET /auth/session beside the unfinished login = %d %s, want 200", resp.StatusCode, body)
			}
			if resp, body := tc.change(t, c, f); resp.StatusCode != tc.want {
				t.Fatalf("%s in the signed-in session = %d %q (Location %q), want %d",
					tc.name, resp.StatusCode, body, resp.Header.Get("Location"), tc.want)
			}
			// The unfinished login is still its own.
			resp, body = postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, f.secret, g.Clock.Now())})
			if resp.StatusCode != tc.code {
				t.Fatalf("second step of the unfinished login = %d %s, want %d", resp.StatusCode, body, tc.code)
			}
		})
	}
}

// A refused factor change says what to do in error_description: a session
// too old to change factors signs in again (403), and a confirmation with
// no enrolment in progress begins one first (400). Both answered a bare
// error code.
func TestFactorChangeRefusalsSayWhy(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	if resp, body := loginJSON(t, c, g.URL, "alice", strongPassword); resp.StatusCode != 200 {
		t.Fatalf("login = %d %s", resp.StatusCode, body)
	}
	confirm := func(t *testing.T) (*http.Response, string) {
		t.Helper()
		return postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": "123456"})
	}
	if resp, body := confirm(t); resp.StatusCode != 400 || !strings.Contains(descr(decode(t, body)), "POST /auth/mfa/totp") {
		t.Errorf("confirm without an enrolment = %d %s, want 400 naming POST /auth/mfa/totp", resp.StatusCode, body)
	}
	g.Clock.Advance(6 * time.Minute)
	cases := []struct {
		name string
		send func(t *testing.T) (*http.Response, string)
	}{
		{"enrol", func(t *testing.T) (*http.Response, string) {
			return do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
		}},
		{"confirm", confirm},
		{"turn off", func(t *testing.T) (*http.Response, string) { return do(t, c, "DELETE", g.URL+"/auth/mfa/totp", "") }},
		{"recovery codes", func(t *testing.T) (*http.Response, string) {
			return do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.send(t)
			if resp.StatusCode != 403 || !strings.Contains(descr(decode(t, body)), "sign in again") {
				t.Fatalf("%s 6 minutes after a password login = %d %s, want 403 saying to sign in again", tc.name, resp.StatusCode, body)
			}
		})
	}
}
