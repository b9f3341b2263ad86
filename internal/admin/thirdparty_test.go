package admin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// TestThirdPartyAppTokenIsNoAdministrator: an administrator who signs in
// to a third-party application (first_party: false, a consent page) gives
// it an access token of gatehouse's audience. The user consented to the
// app's scopes, not to it administering gatehouse: such a token, or one of
// a client since deleted, is refused with 403; tokens of gatehouse's own
// login, of `gatehouse token issue` and of first-party clients are let in.
func TestThirdPartyAppTokenIsNoAdministrator(t *testing.T) {
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.Client{ID: "partner", Type: "public", RedirectURIs: []string{"https://partner.example/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}},
			config.Client{ID: "console-spa", Type: "public", FirstParty: true, RedirectURIs: []string{"https://spa.example/cb"},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
	}))
	u, err := e.App.Users.Get(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		clientID string
		status   int
	}{
		{client.BuiltinID, 200},
		{client.CLIID, 200},
		{"console-spa", 200},
		{"partner", 403},
		{"deleted-app", 403},
	}
	for _, tt := range tests {
		t.Run(tt.clientID, func(t *testing.T) {
			tok, _, err := e.App.Issuer.Issue(token.Subject{UserID: u.ID, Username: u.Username, Roles: u.Roles,
				ClientID: tt.clientID, Scope: "openid", AMR: []string{"pwd", "otp", "mfa"}}, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/admin/api/v1/users", "/admin/api/v1/config"} {
				resp, body := e.do(t, "GET", path, "", bearer(tok)...)
				if resp.StatusCode != tt.status {
					t.Errorf("%s with a token of %s = %d %s, want %d", path, tt.clientID, resp.StatusCode, body, tt.status)
				}
				if tt.status == 403 && !strings.Contains(body, `"error":"forbidden"`) {
					t.Errorf("%s: body = %s, want forbidden", path, body)
				}
			}
		})
	}
}
