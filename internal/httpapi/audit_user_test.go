package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// onStore is the option that runs an instance on store ("sqlite": the
// harness's file; "postgres": a schema of its own).
func onStore(t *testing.T, store string) testutil.Option {
	t.Helper()
	dsn := ""
	if store == "postgres" {
		dsn = pgtest.DSN(t)
	}
	return testutil.WithConfig(func(c *config.Config) {
		if dsn != "" {
			c.Store = dsn
		}
	})
}

// The token.revoked event of a grant that gatehouse ends on its own —
// a replayed authorization code, a withdrawn consent — names the user
// whose tokens stopped and why, so `gatehouse audit --user` and
// `GET /admin/api/v1/audit?user=` show it. It named only the sid. Where
// the user's name is known (a withdrawal by the signed-in user, as
// /auth/grants), the event carries it too.
func TestGrantRevocationAuditNamesTheUser(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			g := startApps(t, onStore(t, store))
			alice := g.CreateUser(t, "alice", strongPassword)
			b := browser(t, g, "alice")
			v := oauth2.GenerateVerifier()
			exchange := func(clientID, secret, code string) map[string]any {
				t.Helper()
				_, m := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {webCB}, "code_verifier": {v}}, clientID, secret)
				return m
			}
			tests := []struct {
				reason string
				named  bool // the event's username is alice's
				act    func(t *testing.T)
			}{
				{"code_replay", false, func(t *testing.T) {
					code := codeFor(t, g, b, "other", webCB, v, "openid offline_access")
					if m := exchange("other", otherSec, code); m["access_token"] == nil {
						t.Fatalf("first exchange = %v", m)
					}
					if m := exchange("other", otherSec, code); m["error"] != "invalid_grant" {
						t.Fatalf("replay = %v, want invalid_grant", m)
					}
				}},
				{"consent_withdrawn", true, func(t *testing.T) {
					code := codeFor(t, g, b, "web", webCB, v, "openid offline_access")
					if m := exchange("web", webSecret, code); m["access_token"] == nil {
						t.Fatalf("exchange = %v", m)
					}
					resp, _ := do(t, b, "POST", g.URL+"/auth/consents/web/revoke", "",
						"Content-Type", "application/x-www-form-urlencoded", "Origin", g.URL, "Sec-Fetch-Site", "same-origin")
					if resp.StatusCode != http.StatusSeeOther {
						t.Fatalf("withdraw consent = %d, want 303", resp.StatusCode)
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.reason, func(t *testing.T) {
					tt.act(t)
					evs, err := g.App.Store.ListAudit(t.Context(), audit.Filter{UserID: alice.ID, Type: audit.TokenRevoked})
					if err != nil {
						t.Fatal(err)
					}
					var found bool
					for _, e := range evs {
						found = found || (e.Details["reason"] == tt.reason && e.Details["sid"] != "" && e.RequestID != "" &&
							(!tt.named || e.Username == "alice"))
					}
					if !found {
						all, _ := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.TokenRevoked})
						t.Errorf("no token.revoked event of alice with reason %s (named %v); token.revoked events: %+v", tt.reason, tt.named, all)
					}
				})
			}
		})
	}
}

// The password step of a user who has a second factor is no finished
// login: its login.ok says second_factor=required, as an OIDC login's
// does, and the step that starts the session records its own. Without
// it, a password grant that answered invalid_grant (mfa_required) and a
// form login stopped at /login/mfa looked like complete logins.
func TestPasswordStepAuditSaysSecondFactorRequired(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			g := mfaInstance(t, func(c *config.Config) {
				if store == "postgres" {
					c.Store = pgtest.DSN(t)
				}
			})
			g.CreateUser(t, "alice", strongPassword)
			g.CreateUser(t, "bob", strongPassword)
			enrolTOTP(t, g, "alice")
			tests := []struct {
				name, user string
				act        func(t *testing.T)
				want       string // details["second_factor"]
			}{
				{"json login", "alice", func(t *testing.T) { pendingLogin(t, g, "alice") }, "required"},
				{"form login", "alice", func(t *testing.T) {
					resp, _ := loginForm(t, testutil.Client(t), g.URL, "alice", strongPassword, "/")
					if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc == "" || loc[:10] != "/login/mfa" {
						t.Fatalf("form login = %d %q, want 303 to /login/mfa", resp.StatusCode, loc)
					}
				}, "required"},
				{"password grant", "alice", func(t *testing.T) {
					resp, m := tokenRequest(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword}})
					if resp.StatusCode == http.StatusOK {
						t.Fatalf("password grant of an MFA user = 200 %v", m)
					}
				}, "required"},
				{"without a factor", "bob", func(t *testing.T) { browser(t, g, "bob") }, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.act(t)
					evs, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginOK, Limit: 1})
					if err != nil {
						t.Fatal(err)
					}
					if len(evs) != 1 || evs[0].Username != tt.user {
						t.Fatalf("newest login.ok = %+v, want one of %s", evs, tt.user)
					}
					if got := evs[0].Details["second_factor"]; got != tt.want || evs[0].Details["method"] != "password" {
						t.Errorf("login.ok details = %v, want method=password second_factor=%q", evs[0].Details, tt.want)
					}
				})
			}
		})
	}
}
