package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// oidcLoginTo runs "Sign in with Corp" in browser c up to gatehouse's
// answer to the callback. The callback is requested on the listener even
// when public_url names another host (the WebAuthn tests' localhost).
func oidcLoginTo(t *testing.T, g *testutil.Instance, c *http.Client, next string) *http.Response {
	t.Helper()
	resp, _ := oidcLogin(t, g, c, next)
	return resp
}

// oidcLogin is oidcLoginTo that also returns the body of gatehouse's
// answer to the callback.
func oidcLogin(t *testing.T, g *testutil.Instance, c *http.Client, next string) (*http.Response, string) {
	t.Helper()
	resp, _ := do(t, c, "GET", g.URL+"/auth/oidc/corp/start?next="+url.QueryEscape(next), "")
	for range 10 {
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("OIDC login stopped with %d", resp.StatusCode)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path == "/auth/oidc/corp/callback" {
			return do(t, c, "GET", g.URL+loc.RequestURI(), "")
		}
		r, err := c.Get(loc.String()) // the provider's pages: not gatehouse's API
		if err != nil {
			t.Fatal(err)
		}
		testutil.ReadBody(t, r)
		resp = r
	}
	t.Fatal("OIDC login: too many redirects")
	return nil, ""
}

// An OIDC login whose session starts on the second step (TOTP, recovery
// code, passkey, or the enrolment login.require_mfa_roles asks for) is
// linked to the provider's session like a direct one: the provider's
// logout token ends exactly that session, and the app that got tokens in
// it is logged out over its own back channel.
func TestInboundBackchannelLogoutAfterSecondStep(t *testing.T) {
	tests := []struct {
		name       string
		publicURL  string
		requireMFA bool
		wantAMR    []string
		// factor runs in the user's first session (fresh, no factor yet;
		// nil when the factor is enrolled on the second step) and returns
		// the second step.
		factor func(t *testing.T, g *testutil.Instance, first *http.Client) func(c *http.Client)
	}{
		{"totp", "", false, []string{"ext", "otp", "mfa"}, func(t *testing.T, g *testutil.Instance, first *http.Client) func(*http.Client) {
			secret := enrolTOTPIn(t, g, first)
			return func(c *http.Client) {
				form := url.Values{"method": {"totp"}, "code": {mfatest.TOTPCode(t, secret, g.Clock.Now())}}
				resp, _ := do(t, c, "POST", g.URL+"/auth/login/mfa", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
					t.Fatalf("TOTP second step = %d %q, want 303 /account", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
		}},
		{"recovery code", "", false, []string{"ext", "otp", "mfa"}, func(t *testing.T, g *testutil.Instance, first *http.Client) func(*http.Client) {
			enrolTOTPIn(t, g, first)
			resp, body := do(t, first, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
			}
			code := anyStrings(decode(t, body)["codes"])[0]
			return func(c *http.Client) {
				if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": code}); resp.StatusCode != http.StatusOK {
					t.Fatalf("recovery code second step = %d %s", resp.StatusCode, body)
				}
			}
		}},
		{"passkey", passkeyOrigin, false, []string{"ext", "hwk", "mfa"}, func(t *testing.T, g *testutil.Instance, first *http.Client) func(*http.Client) {
			a := securityKey()
			key := registerPasskey(t, g, first, a, "YubiKey")
			return func(c *http.Client) {
				opts := passkeyBegin(t, g, c, nil)
				if resp, body := passkeyFinish(t, g, c, a.Get(t, opts, key)); resp.StatusCode != http.StatusOK {
					t.Fatalf("passkey second step = %d %s", resp.StatusCode, body)
				}
			}
		}},
		{"enrolment required by role", "", true, []string{"ext", "otp", "mfa"}, func(t *testing.T, g *testutil.Instance, first *http.Client) func(*http.Client) {
			return func(c *http.Client) { enrolTOTPIn(t, g, c) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRP(t)
			op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{
				Subject: "olivia-sub-1", PreferredUsername: "olivia", Email: "olivia@corp.example", EmailVerified: true, Name: "Olivia",
			}))
			g := mfaInstance(t, func(c *config.Config) {
				if tt.publicURL != "" {
					c.PublicURL = tt.publicURL
				}
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
					Scopes: []string{"openid", "email", "profile"}, CreateUsers: true, DefaultRoles: []string{"staff"}, BackchannelLogout: true}}
				if tt.requireMFA {
					c.Login.RequireMFARoles = []string{"staff"}
				}
				c.Clients = []config.Client{{ID: "web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
					BackchannelLogoutURI: r.URL + "/bcl", FirstParty: true,
					GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access"}}}
			})
			op.AddRedirectURI(g.Config.EffectivePublicURL() + "/auth/oidc/corp/callback")

			// A first login, in its own provider session, prepares the factor
			// (with require_mfa_roles, the factor is enrolled on the second
			// step itself).
			first := testutil.Client(t)
			var second func(*http.Client)
			if tt.requireMFA {
				second = tt.factor(t, g, nil)
			} else {
				if resp := oidcLoginTo(t, g, first, "/account"); !hasSessionCookie(g, resp) {
					t.Fatalf("first OIDC login (no factor yet) = %d %q, want a session", resp.StatusCode, resp.Header.Get("Location"))
				}
				second = tt.factor(t, g, first)
			}

			op.NewSession()
			c := testutil.Client(t)
			resp := oidcLoginTo(t, g, c, "/account")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?") || hasSessionCookie(g, resp) {
				t.Fatalf("OIDC login with a second step = %d %q, want 303 /login/mfa without a session", resp.StatusCode, resp.Header.Get("Location"))
			}
			second(c)
			if got := anyStrings(sessionOf(t, g, c)["amr"]); !slices.Equal(got, tt.wantAMR) {
				t.Fatalf("session amr after the second step = %v, want %v", got, tt.wantAMR)
			}

			v := oauth2.GenerateVerifier()
			code := codeFor(t, g, c, "web", webCB, v, "openid offline_access")
			resp, toks := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange = %d %v", resp.StatusCode, toks)
			}

			// The provider logs out the session of the second login.
			raw := providerLogsOut(t, g, op, "olivia-sub-1")
			out, id := jwtPart(t, r.await(t, 10*time.Second), 1), jwtPart(t, toks["id_token"].(string), 1)
			if out["aud"] != "web" || out["sid"] == nil || out["sid"] != id["sid"] || out["sub"] != id["sub"] {
				t.Errorf("the app's logout token %v does not name the session of its ID token %v", out, id)
			}
			if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("session made on the second step, after the provider's logout = %d, want 401", resp.StatusCode)
			}
			resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks["refresh_token"].(string)}}, "web", webSecret)
			if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Errorf("the app's refresh token after the provider's logout = %d %v, want invalid_grant", resp.StatusCode, m)
			}
			if !tt.requireMFA {
				if resp, _ := do(t, first, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusOK {
					t.Errorf("session of another provider session = %d, want 200", resp.StatusCode)
				}
			}
			g.AssertLogsDoNotContain(t, raw)
		})
	}
}

// A session that replaces an OIDC login's session — a step-up with the
// second factor, a password change — stays linked to the provider's
// session: the provider's logout token ends the replacement too.
func TestInboundBackchannelLogoutAfterSessionReplaced(t *testing.T) {
	tests := []struct {
		name     string
		password bool // olivia has a password too (set before the login)
		replace  func(t *testing.T, g *testutil.Instance, c *http.Client)
	}{
		{"step-up with TOTP", false, func(t *testing.T, g *testutil.Instance, c *http.Client) {
			secret := enrolTOTPIn(t, g, c)
			if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())}); resp.StatusCode != http.StatusOK {
				t.Fatalf("step-up = %d %s", resp.StatusCode, body)
			}
		}},
		{"password change", true, func(t *testing.T, g *testutil.Instance, c *http.Client) {
			resp, body := do(t, c, "POST", g.URL+"/auth/password",
				`{"current_password":"`+strongPassword+`","new_password":"`+strongPassword+`-2"}`,
				"Content-Type", "application/json", "Origin", g.URL)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("password change = %d %s", resp.StatusCode, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{
				Subject: "olivia-sub-1", PreferredUsername: "olivia", Email: "olivia@corp.example", EmailVerified: true, Name: "Olivia",
			}))
			g := mfaInstance(t, func(c *config.Config) {
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
					Scopes: []string{"openid", "email", "profile"}, CreateUsers: true, BackchannelLogout: true}}
			})
			op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")
			c := testutil.Client(t)
			if resp := oidcLoginTo(t, g, c, "/account"); !hasSessionCookie(g, resp) {
				t.Fatalf("OIDC login = %d %q, want a session", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tt.password {
				// Setting a password ends the user's sessions: sign in again.
				if err := g.App.Users.SetPassword(t.Context(), "olivia", strongPassword); err != nil {
					t.Fatal(err)
				}
				if resp := oidcLoginTo(t, g, c, "/account"); !hasSessionCookie(g, resp) {
					t.Fatalf("second OIDC login = %d %q, want a session", resp.StatusCode, resp.Header.Get("Location"))
				}
			}
			before, _ := sessionInfo(t, g, c)
			tt.replace(t, g, c)
			after, _ := sessionInfo(t, g, c)
			if after == before {
				t.Fatalf("session ID %s kept, want a new session", before)
			}

			providerLogsOut(t, g, op, "olivia-sub-1")
			if resp, _ := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("replacement session after the provider's logout = %d, want 401", resp.StatusCode)
			}
		})
	}
}

// providerLogsOut has the test provider send gatehouse a back-channel
// logout token for sub, issued now on g's clock, requires its 200 and
// returns the token.
func providerLogsOut(t *testing.T, g *testutil.Instance, op *oidctestop.Provider, sub string) string {
	t.Helper()
	lt := op.NewLogoutToken(sub)
	lt.IssuedAt = g.Clock.Now().Truncate(time.Second)
	lt.Expiry = lt.IssuedAt.Add(2 * time.Minute)
	raw, err := op.Sign(lt)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/oidc/corp/backchannel-logout", url.Values{"logout_token": {raw}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("back-channel logout = %d %s, want 200", resp.StatusCode, body)
	}
	return raw
}
