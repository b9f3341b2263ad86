package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// The end_session confirmation form is answered by a redirect to the
// registered post_logout_redirect_uri, and browsers apply form-action to
// that redirect: a registered http://127.0.0.1 URI (RFC 8252) gets its one
// origin added to the page's form-action (https is always allowed), a native
// app's private-use scheme its scheme, and the confirmed POST then lands
// there. An unregistered origin is never added.
func TestEndSessionPageFormActionAllowsTheRedirect(t *testing.T) {
	const loopbackBye = "http://127.0.0.1:54321/bye"
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = []config.Client{{ID: "cli", Type: "public", RedirectURIs: []string{"http://127.0.0.1/cb"},
			PostLogoutRedirectURIs: []string{loopbackBye, "https://rp.example.com/bye", "com.example.app:/bye"},
			GrantTypes:             []string{"authorization_code"}, Scopes: []string{"openid"}, FirstParty: true}}
	}))
	g.CreateUser(t, "alice", strongPassword)
	tests := []struct {
		name, redirect string
		wantStatus     int
		formAction     string
	}{
		{"registered loopback URI", loopbackBye, http.StatusOK, "form-action 'self' https: http://127.0.0.1:54321;"},
		{"registered https URI", "https://rp.example.com/bye", http.StatusOK, "form-action 'self' https:;"},
		{"registered private-use scheme", "com.example.app:/bye", http.StatusOK, "form-action 'self' https: com.example.app:;"},
		{"no redirect", "", http.StatusOK, "form-action 'self' https:;"},
		{"unregistered loopback port", "http://127.0.0.1:6666/bye", http.StatusBadRequest, "form-action 'self' https:;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := browser(t, g, "alice")
			q := url.Values{"client_id": {"cli"}, "state": {"st"}}
			if tt.redirect != "" {
				q.Set("post_logout_redirect_uri", tt.redirect)
			}
			resp, page := do(t, b, "GET", g.URL+"/auth/end_session?"+q.Encode(), "")
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("end_session = %d, want %d:\n%s", resp.StatusCode, tt.wantStatus, page)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tt.formAction) {
				t.Errorf("CSP = %q, want %q", csp, tt.formAction)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			if !strings.Contains(page, `name="confirm"`) {
				t.Fatalf("end_session without hint: no confirmation form:\n%s", page)
			}
			q.Set("confirm", "yes")
			resp, _ = do(t, b, "POST", g.URL+"/auth/end_session", q.Encode(), "Content-Type", "application/x-www-form-urlencoded",
				"Origin", g.URL, "Sec-Fetch-Site", "same-origin")
			if tt.redirect != "" && (resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.redirect+"?state=st") {
				t.Errorf("confirmed end_session = %d %q, want 303 %s?state=st", resp.StatusCode, resp.Header.Get("Location"), tt.redirect)
			}
			if resp, _ := do(t, b, "GET", g.URL+"/auth/session", ""); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("session after confirmed end_session = %d, want 401", resp.StatusCode)
			}
		})
	}
}
