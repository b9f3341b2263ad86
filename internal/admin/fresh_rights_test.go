package admin_test

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestAdminRightsAreReadOnEveryRequest: the admin surface asks the store
// who the caller is on every request. An administrator whose admin role
// was just taken away, who was just disabled, or whose account was just
// deleted is refused on the very next request, with a session (even one
// the session cache holds) and with an access token still inside its
// lifetime, whose roles claim still names the admin role.
func TestAdminRightsAreReadOnEveryRequest(t *testing.T) {
	changes := []struct {
		name         string
		method, path string
		body         string
		want         []int // acceptable answers for the old credential
		console      int   // the console's answer to the old session's form
	}{
		{"admin role removed", "PUT", "/admin/api/v1/users/root2/roles", `{"roles":["user"]}`, []int{403}, 403},
		{"disabled", "POST", "/admin/api/v1/users/root2/disable", "", []int{401}, 302},
		{"deleted", "DELETE", "/admin/api/v1/users/root2", "", []int{401}, 302},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			e.CreateUser(t, "root2", pw, "admin")
			secret := e.enrolTOTP(t, e.login(t, "root2"))
			e.clock.Advance(time.Minute)
			creds := map[string][]string{
				"session": e.cookie(e.loginMFA(t, "root2", secret)),
				"token":   bearer(e.mfaToken(t, "root2")),
			}
			for kind, h := range creds { // warm the session cache
				if resp, body := e.do(t, "GET", "/admin/api/v1/users", "", h...); resp.StatusCode != 200 {
					t.Fatalf("root2's %s before the change = %d %s", kind, resp.StatusCode, body)
				}
			}
			if resp, body := e.do(t, c.method, c.path, c.body, append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...); resp.StatusCode/100 != 2 {
				t.Fatalf("%s %s = %d %s", c.method, c.path, resp.StatusCode, body)
			}
			for kind, h := range creds {
				for _, path := range []string{"/admin/api/v1/users", "/admin/api/v1/config"} {
					resp, body := e.do(t, "GET", path, "", h...)
					if !slices.Contains(c.want, resp.StatusCode) {
						t.Errorf("root2's %s on %s after %s = %d %s, want %v", kind, path, c.name, resp.StatusCode, body, c.want)
					}
				}
			}
			// The console too: its page and a form (which would have made
			// carol an administrator) are refused to the old session.
			session := creds["session"]
			if resp, _ := e.do(t, "GET", "/admin/users", "", append([]string{"Accept", "text/html"}, session...)...); resp.StatusCode != c.console {
				t.Errorf("console page with root2's old session = %d, want %d", resp.StatusCode, c.console)
			}
			if resp, _ := e.do(t, "POST", "/admin/users/carol/roles", "roles=admin", append([]string{"Accept", "text/html", "Sec-Fetch-Site", "same-origin",
				"Content-Type", "application/x-www-form-urlencoded"}, session...)...); resp.StatusCode != c.console {
				t.Errorf("console form with root2's old session = %d, want %d", resp.StatusCode, c.console)
			}
			if u, err := e.App.Users.Get(context.Background(), "carol"); err != nil || slices.Contains(u.Roles, "admin") {
				t.Errorf("carol = %+v, %v: the old session's form made her an administrator", u, err)
			}
			if _, err := e.App.Users.Get(context.Background(), "root"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
