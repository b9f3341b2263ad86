package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// pendingStep is the second step of a pending login in browser c: begin
// runs its first requests (a passkey ceremony's begin, a TOTP enrolment's
// secret), finish its last, which earns the session.
type pendingStep struct {
	begin  func(c *http.Client)
	finish func(c *http.Client) (*http.Response, string)
}

// A pending login ends with every revocation of its user counted between
// the first factor and the second step (auth.User.Revocations): a sign-out
// everywhere (gatehouse user logout), or a disable, even one undone before
// the second step. The second step is then refused as with an expired
// pending cookie (401 unauthorized) and starts no session — on every
// second step (TOTP, recovery code, passkey, the enrolment
// login.require_mfa_roles asks for), after a password or an OIDC login.
func TestSecondStepAfterRevocationRefused(t *testing.T) {
	steps := []struct {
		name  string
		enrol bool // login.require_mfa_roles: the factor is enrolled on the second step
		// factor prepares the factor in first, a fresh session of the user
		// (nil when enrol), and returns the second step.
		factor func(t *testing.T, g *testutil.Instance, first *http.Client) pendingStep
	}{
		{"totp", false, func(t *testing.T, g *testutil.Instance, first *http.Client) pendingStep {
			secret := enrolTOTPIn(t, g, first)
			return pendingStep{finish: func(c *http.Client) (*http.Response, string) {
				return postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
			}}
		}},
		{"recovery code", false, func(t *testing.T, g *testutil.Instance, first *http.Client) pendingStep {
			enrolTOTPIn(t, g, first)
			resp, body := do(t, first, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
			}
			code := anyStrings(decode(t, body)["codes"])[0]
			return pendingStep{finish: func(c *http.Client) (*http.Response, string) {
				return postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": code})
			}}
		}},
		{"passkey", false, func(t *testing.T, g *testutil.Instance, first *http.Client) pendingStep {
			a := securityKey()
			key := registerPasskey(t, g, first, a, "YubiKey")
			var opts []byte
			return pendingStep{
				begin: func(c *http.Client) { opts = passkeyBegin(t, g, c, nil) },
				finish: func(c *http.Client) (*http.Response, string) {
					return passkeyFinish(t, g, c, a.Get(t, opts, key))
				},
			}
		}},
		{"totp enrolment", true, func(t *testing.T, g *testutil.Instance, _ *http.Client) pendingStep {
			var secret string
			return pendingStep{
				begin: func(c *http.Client) {
					resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("POST /auth/mfa/totp with the pending cookie = %d %s", resp.StatusCode, body)
					}
					secret = decode(t, body)["secret"].(string)
				},
				finish: func(c *http.Client) (*http.Response, string) {
					return postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": mfatest.TOTPCode(t, secret, g.Clock.Now())})
				},
			}
		}},
		{"passkey enrolment", true, func(t *testing.T, g *testutil.Instance, _ *http.Client) pendingStep {
			var opts string
			return pendingStep{
				begin: func(c *http.Client) {
					resp, body := postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("register/begin with the pending cookie = %d %s", resp.StatusCode, body)
					}
					opts = body
				},
				finish: func(c *http.Client) (*http.Response, string) {
					cred, _ := securityKey().Create(t, []byte(opts))
					return postJSON(t, c, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "YubiKey", "credential": cred})
				},
			}
		}},
	}
	firsts := []struct {
		name string
		oidc bool
	}{{"password", false}, {"oidc", true}}
	revocations := []struct {
		name   string
		revoke func(t *testing.T, g *testutil.Instance, name string) // nil: none
	}{
		{"none", nil},
		{"logout everywhere", func(t *testing.T, g *testutil.Instance, name string) {
			if _, err := g.App.Users.LogoutEverywhere(t.Context(), name, "cli"); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabled and enabled again", func(t *testing.T, g *testutil.Instance, name string) {
			for _, disabled := range []bool{true, false} {
				if _, err := g.App.Users.SetDisabled(t.Context(), name, disabled); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, step := range steps {
		for _, first := range firsts {
			for _, rv := range revocations {
				t.Run(step.name+"/"+first.name+"/"+rv.name, func(t *testing.T) {
					g, name, pending := pendingLoginOf(t, first.oidc, step.enrol)
					var firstSession *http.Client
					if !step.enrol {
						firstSession = pending(t, true)
					}
					st := step.factor(t, g, firstSession)

					c := pending(t, false)
					if st.begin != nil {
						st.begin(c)
					}
					if rv.revoke != nil {
						rv.revoke(t, g, name)
					}
					oks := len(auditTypes(t, g, audit.LoginOK))
					resp, body := st.finish(c)
					if rv.revoke == nil {
						if resp.StatusCode >= 300 || !hasSessionCookie(g, resp) {
							t.Fatalf("second step without a revocation = %d %s, want a session", resp.StatusCode, body)
						}
						sessionOf(t, g, c)
						return
					}
					if resp.StatusCode != http.StatusUnauthorized || decode(t, body)["error"] != "unauthorized" || hasSessionCookie(g, resp) {
						t.Fatalf("second step after the revocation = %d %s (session cookie %v), want 401 unauthorized without a session",
							resp.StatusCode, body, hasSessionCookie(g, resp))
					}
					if resp, body := do(t, c, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("/auth/session after the refused second step = %d %s, want 401", resp.StatusCode, body)
					}
					if got := len(auditTypes(t, g, audit.LoginOK)); got != oks {
						t.Fatalf("login.ok events: %d after the refused second step, want %d", got, oks)
					}
				})
			}
		}
	}
}

// pendingLoginOf starts gatehouse (public_url for passkeys; with enrol,
// login.require_mfa_roles for the user's role) and a user of it, signed
// in with a password (alice) or with the test OpenID provider (olivia).
// pending logs the user in, in a fresh browser, and returns it: a session
// when fresh (the user has no factor yet), else a pending login.
func pendingLoginOf(t *testing.T, viaOIDC, enrol bool) (g *testutil.Instance, name string, pending func(t *testing.T, fresh bool) *http.Client) {
	t.Helper()
	var op *oidctestop.Provider
	if viaOIDC {
		op = oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{
			Subject: "olivia-sub-1", PreferredUsername: "olivia", Email: "olivia@corp.example", EmailVerified: true, Name: "Olivia",
		}))
	}
	g = mfaInstance(t, func(c *config.Config) {
		c.PublicURL = passkeyOrigin
		if enrol {
			c.Login.RequireMFARoles = []string{"staff"}
		}
		if op != nil {
			c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(), ClientSecret: op.ClientSecret(),
				Scopes: []string{"openid", "email", "profile"}, CreateUsers: true, DefaultRoles: []string{"staff"}}}
		}
	})
	if op == nil {
		g.CreateUser(t, "alice", strongPassword, "staff")
		return g, "alice", func(t *testing.T, fresh bool) *http.Client {
			t.Helper()
			if fresh {
				return signedIn(t, g, "alice")
			}
			c, _ := pendingLogin(t, g, "alice")
			return c
		}
	}
	op.AddRedirectURI(g.Config.EffectivePublicURL() + "/auth/oidc/corp/callback")
	return g, "olivia", func(t *testing.T, fresh bool) *http.Client {
		t.Helper()
		op.NewSession()
		c := testutil.Client(t)
		resp := oidcLoginTo(t, g, c, "/account")
		switch {
		case fresh && !hasSessionCookie(g, resp):
			t.Fatalf("OIDC login without a factor = %d %q, want a session", resp.StatusCode, resp.Header.Get("Location"))
		case !fresh && (resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?") || hasSessionCookie(g, resp)):
			t.Fatalf("OIDC login with a second step = %d %q, want 303 /login/mfa without a session", resp.StatusCode, resp.Header.Get("Location"))
		}
		return c
	}
}
