package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// recoveryLeft returns how many recovery codes name has left.
func recoveryLeft(t *testing.T, g *testutil.Instance, name string) int {
	t.Helper()
	u, err := g.App.Store.UserByName(t.Context(), name)
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	f, err := g.App.MFA.Factors(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("Factors: %v", err)
	}
	return f.RecoveryLeft
}

// mintedCodes gives name recovery codes through the service, bypassing
// the endpoint's rule, as codes left from before that rule would be.
func mintedCodes(t *testing.T, g *testutil.Instance, name string) []string {
	t.Helper()
	u, err := g.App.Store.UserByName(t.Context(), name)
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	codes, err := g.App.MFA.NewRecoveryCodes(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("NewRecoveryCodes: %v", err)
	}
	return codes
}

// Recovery codes back up a factor; they are not one (docs/mfa.md). A
// session of a user without TOTP or passkey cannot mint them (409), even
// a fresh one that may change factors.
func TestRecoveryCodesNeedAFactor(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "bob", strongPassword)
	c := signedIn(t, g, "bob")
	resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
	if resp.StatusCode != http.StatusConflict || decode(t, body)["error"] != "conflict" {
		t.Fatalf("recovery codes without a factor = %d %s, want 409 conflict", resp.StatusCode, body)
	}
	if got := recoveryLeft(t, g, "bob"); got != 0 {
		t.Fatalf("recovery codes left = %d, want 0", got)
	}
	// With a factor the same session gets them.
	enrolTOTPIn(t, g, c)
	resp, body = do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK || len(anyStrings(decode(t, body)["codes"])) != 10 {
		t.Fatalf("recovery codes with TOTP = %d %s, want 200 with 10 codes", resp.StatusCode, body)
	}
}

// A recovery code of a user without TOTP or passkey (codes left from
// before the rule) is refused as a wrong code: no step-up of a password
// session, and no login of a login.require_mfa_roles user, who must enrol.
func TestRecoveryCodeWithoutFactorIsRefused(t *testing.T) {
	up := newUpstream(t)
	g := mfaInstance(t, func(c *config.Config) {
		c.Login.RequireMFARoles = []string{"admin"}
		c.Routes = []config.Route{{Name: "secure", Match: config.RouteMatch{PathPrefix: "/secure/"}, Upstream: up.URL, Auth: "session", MFA: true}}
	})
	g.CreateUser(t, "bob", strongPassword)
	g.CreateUser(t, "root", strongPassword, "admin")

	t.Run("StepUp", func(t *testing.T) {
		codes := mintedCodes(t, g, "bob")
		c := signedIn(t, g, "bob")
		resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": codes[0]})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("step-up with a recovery code and no factor = %d %s, want 401", resp.StatusCode, body)
		}
		if got := sessionAMR(t, g, c); !slices.Equal(got, []string{"pwd"}) {
			t.Fatalf("amr after the refused step-up = %v, want [pwd]", got)
		}
		if resp, _ := do(t, c, "GET", g.URL+"/secure/x", "", "Accept", "application/json"); resp.StatusCode == http.StatusOK {
			t.Fatal("a password-only session reached an mfa: true route")
		}
	})
	t.Run("RequiredEnrolment", func(t *testing.T) {
		codes := mintedCodes(t, g, "root")
		c, m := pendingLogin(t, g, "root")
		if m["enrolment_required"] != true || slices.Contains(anyStrings(m["methods"]), "recovery") {
			t.Fatalf("password step = %v, want enrolment_required and no recovery method", m)
		}
		resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"method": "recovery", "code": codes[0]})
		if resp.StatusCode != http.StatusUnauthorized || hasSessionCookie(g, resp) {
			t.Fatalf("recovery code instead of the required enrolment = %d %s, want 401 and no session", resp.StatusCode, body)
		}
	})
}

// Removing the last real factor removes the recovery codes with it: they
// would otherwise outlive what they back up (and be refused anyway). A
// factor that remains keeps them.
func TestRemovingLastFactorDeletesRecoveryCodes(t *testing.T) {
	g := passkeyInstance(t, "sqlite")
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice")
	enrolTOTPIn(t, g, c)
	key := registerPasskey(t, g, c, securityKey(), "YubiKey")
	if resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json"); resp.StatusCode != 200 {
		t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
	}

	if resp, body := do(t, c, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete TOTP = %d %s", resp.StatusCode, body)
	}
	if got := recoveryLeft(t, g, "alice"); got != 10 {
		t.Fatalf("recovery codes left with the passkey still there = %d, want 10", got)
	}
	// docs/mfa.md's endpoint table: no TOTP left to remove is 404.
	if resp, body := do(t, c, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("delete a TOTP already removed = %d %s, want 404 not_found", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "DELETE", g.URL+"/auth/webauthn/"+key.ID64(), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete passkey = %d %s", resp.StatusCode, body)
	}
	if got := recoveryLeft(t, g, "alice"); got != 0 {
		t.Fatalf("recovery codes left after the last factor went = %d, want 0", got)
	}

	// The same when TOTP is the last factor.
	enrolTOTPIn(t, g, c)
	if resp, body := do(t, c, "POST", g.URL+"/auth/mfa/recovery-codes", "", "Content-Type", "application/json"); resp.StatusCode != 200 {
		t.Fatalf("recovery codes = %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete TOTP = %d %s", resp.StatusCode, body)
	}
	if got := recoveryLeft(t, g, "alice"); got != 0 {
		t.Fatalf("recovery codes left after TOTP, the last factor, went = %d, want 0", got)
	}
}

// The 409s of the factor endpoints say what to do: a bare
// {"error":"conflict"} left an API client guessing why its enrolment or
// its recovery codes were refused (docs/mfa.md, "Endpoints").
func TestFactorConflictsSayWhatToDo(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "bob", strongPassword)
	c := signedIn(t, g, "bob")
	for _, tt := range []struct {
		name, path, description string
		before                  func()
	}{
		{"recovery codes without a factor", "/auth/mfa/recovery-codes", "recovery codes back up an authenticator app or a passkey; set one up first", func() {}},
		{"a second TOTP while one is active", "/auth/mfa/totp", "TOTP is already active; delete it first (DELETE /auth/mfa/totp)", func() { enrolTOTPIn(t, g, c) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.before()
			resp, body := do(t, c, "POST", g.URL+tt.path, "", "Content-Type", "application/json")
			got := decode(t, body)
			if resp.StatusCode != http.StatusConflict || got["error"] != "conflict" || got["error_description"] != tt.description {
				t.Fatalf("POST %s = %d %s, want 409 conflict with error_description %q", tt.path, resp.StatusCode, body, tt.description)
			}
		})
	}
}
