package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// A password change gives the session a new ID but is no new login: the
// replacement keeps the login time (created_at), so a password-only
// session past the five minutes still cannot change factors (contract §9:
// a fresh login or a second factor). Otherwise whoever holds the password
// and an old session of a TOTP user could delete the TOTP with only the
// password.
func TestPasswordChangeIsNoFreshLogin(t *testing.T) {
	g := mfaInstance(t)
	g.CreateUser(t, "alice", strongPassword)
	c := signedIn(t, g, "alice") // amr [pwd]
	enrolTOTPIn(t, g, c)
	before := sessionOf(t, g, c)
	g.Clock.Advance(10 * time.Minute)
	if resp, _ := do(t, c, "DELETE", g.URL+"/auth/mfa/totp", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("password-only session of 10 minutes deleting TOTP = %d, want 403", resp.StatusCode)
	}

	const newPassword = "another long passphrase entirely"
	if resp, body := postJSON(t, c, g.URL+"/auth/password", map[string]string{"current_password": strongPassword, "new_password": newPassword}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("change password = %d %s", resp.StatusCode, body)
	}
	after := sessionOf(t, g, c)
	if after["id"] == before["id"] {
		t.Fatal("the password change kept the session ID, want a new one")
	}
	if after["created_at"] != before["created_at"] || !slices.Equal(anyStrings(after["amr"]), []string{"pwd"}) {
		t.Fatalf("session after the password change: created_at %v amr %v; want the login's %v and [pwd]",
			after["created_at"], after["amr"], before["created_at"])
	}
	for _, p := range []struct{ method, path string }{{"DELETE", "/auth/mfa/totp"}, {"POST", "/auth/mfa/recovery-codes"}} {
		resp, body := do(t, c, p.method, g.URL+p.path, "", "Content-Type", "application/json")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s %s right after a password change (no second factor) = %d %s, want 403", p.method, p.path, resp.StatusCode, body)
		}
	}
}
