package httpapi_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

var enrolmentKeyRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// enrolmentKeyOf is the key an enrolment page shows ("" when none).
func enrolmentKeyOf(page string) string {
	if m := enrolmentKeyRE.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// confirmForm posts the confirmation form of an enrolment page with code,
// as the browser c would (every hidden field of page sent back).
func confirmForm(t *testing.T, g *testutil.Instance, c *http.Client, page, code string) (*http.Response, string) {
	t.Helper()
	v := url.Values{"code": {code}}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	return do(t, c, "POST", g.URL+"/auth/mfa/totp/confirm", v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// The enrolment page shown again after a wrong confirmation code shows the
// key only to the browser that got it from its enrolment: another login
// of the user (someone else holding the password, in a fresh session or a
// pending login that must enrol) that sends a wrong code does not read the
// key the user is about to turn on, and a browser whose enrolment was
// replaced by another login's is not shown that other key to scan (whoever
// started that enrolment knows it).
func TestTOTPEnrolmentKeyShownOnlyToItsBrowser(t *testing.T) {
	starts := []struct {
		name  string
		roles []string
		// login is a browser of alice that may change factors: a fresh
		// session, or a pending login that must enrol.
		login func(t *testing.T, g *testutil.Instance) *http.Client
	}{
		{"Session", nil, func(t *testing.T, g *testutil.Instance) *http.Client { return signedIn(t, g, "alice") }},
		{"PendingEnrolment", []string{"admin"}, func(t *testing.T, g *testutil.Instance) *http.Client {
			c, _ := pendingLogin(t, g, "alice")
			return c
		}},
	}
	for _, st := range starts {
		t.Run(st.name, func(t *testing.T) {
			g := mfaInstance(t, func(c *config.Config) { c.Login.RequireMFARoles = st.roles })
			g.CreateUser(t, "alice", strongPassword, "admin")
			enrolPage := func(c *http.Client) (string, string) {
				t.Helper()
				resp, page := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/x-www-form-urlencoded")
				if resp.StatusCode != http.StatusOK || enrolmentKeyOf(page) == "" {
					t.Fatalf("enrolment page = %d %s", resp.StatusCode, page)
				}
				return page, enrolmentKeyOf(page)
			}

			owner := st.login(t, g)
			page, key := enrolPage(owner)
			other := st.login(t, g)
			wrong := wrongCode(mfatest.TOTPCode(t, key, g.Clock.Now()))
			// The other login sends a wrong code without the owner's page.
			resp, body := do(t, other, "POST", g.URL+"/auth/mfa/totp/confirm", url.Values{"code": {wrong}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, key) {
				t.Fatalf("wrong code from another login = %d, shows the owner's key: %v; want 401 without it", resp.StatusCode, strings.Contains(body, key))
			}
			// The owner's page still works: a wrong code shows its key again.
			resp, again := confirmForm(t, g, owner, page, wrong)
			if resp.StatusCode != http.StatusUnauthorized || enrolmentKeyOf(again) != key {
				t.Fatalf("owner's wrong code = %d key %q, want 401 with %q", resp.StatusCode, enrolmentKeyOf(again), key)
			}

			// Another login replaces the enrolment: the owner's next wrong
			// (old) code does not show the replacing key.
			_, replaced := enrolPage(other)
			resp, body = confirmForm(t, g, owner, again, mfatest.TOTPCode(t, key, g.Clock.Now()))
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, replaced) {
				t.Fatalf("owner's code after another login replaced the key = %d, shows the replacing key: %v; want 401 without it",
					resp.StatusCode, strings.Contains(body, replaced))
			}
		})
	}
}

// A pending login that had to enrol (login.require_mfa_roles) gets its
// session from the enrolment, its second step: the audit trail records
// that login (login.ok with the method and the session's amr) as it does
// after a code or a passkey, not only the password step before it and
// mfa.enrolled.
func TestLoginByEnrolmentIsAudited(t *testing.T) {
	tests := []struct {
		name   string
		method string
		amr    string
		// enrol enrols a factor with the pending login c.
		enrol func(t *testing.T, g *testutil.Instance, c *http.Client)
	}{
		{"TOTP", "totp", "[pwd otp mfa]", func(t *testing.T, g *testutil.Instance, c *http.Client) {
			resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("enrol = %d %s", resp.StatusCode, body)
			}
			code := mfatest.TOTPCode(t, decode(t, body)["secret"].(string), g.Clock.Now())
			if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": code}); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("confirm = %d %s", resp.StatusCode, body)
			}
		}},
		{"Passkey", "webauthn", "[pwd hwk mfa]", func(t *testing.T, g *testutil.Instance, c *http.Client) {
			registerPasskey(t, g, c, securityKey(), "YubiKey")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mfaInstance(t, func(c *config.Config) {
				c.PublicURL = passkeyOrigin
				c.Login.RequireMFARoles = []string{"admin"}
			})
			g.CreateUser(t, "root", strongPassword, "admin")
			c, _ := pendingLogin(t, g, "root")
			tt.enrol(t, g, c)
			if resp, body := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
				t.Fatalf("session after the enrolment = %d %s", resp.StatusCode, body)
			}
			events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginOK})
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]string
			for _, e := range events {
				if e.Username == "root" && e.UserID != "" {
					got = append(got, e.Details)
					if e.Details["method"] == tt.method && e.Details["amr"] == tt.amr {
						return
					}
				}
			}
			t.Fatalf("login.ok events of root: %v; want one with method %s and amr %s", got, tt.method, tt.amr)
		})
	}
}
