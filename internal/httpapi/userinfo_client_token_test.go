package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A client's own token (client_credentials: sub = client_id, no user) is a
// valid bearer token, and userinfo answers it as contract §4 says: 200 with
// sub, username and roles, which openapi.json requires (do checks every
// answer against it). There is no user, so username is "" and roles are
// the client's. No scope releases user claims (name, preferred_username,
// email): there is no user to describe, and before, a client token with
// scope openid profile got "name":"". A client token with the
// client's own audience is not one gatehouse's gateway accepts, nor an
// OpenID token: 401 invalid_token, like any such token (docs/apps.md).
func TestUserinfoOfAClientToken(t *testing.T) {
	g := startApps(t, testutil.WithConfig(func(c *config.Config) {
		c.Clients = append(c.Clients, config.Client{ID: "svc-api", Type: "confidential", Secret: svcSecret,
			GrantTypes: []string{"client_credentials"}, Audience: []string{"orders-api"}, Roles: []string{"orders-reader"}},
			config.Client{ID: "svc-oid", Type: "confidential", Secret: svcSecret, GrantTypes: []string{"client_credentials"},
				Scopes: []string{"openid", "profile", "email"}, Roles: []string{"orders-reader"}})
	}))
	for _, tt := range []struct {
		clientID string
		scopes   []string
		status   int
	}{
		{"svc", nil, http.StatusOK},
		{"svc-oid", []string{"openid", "profile", "email"}, http.StatusOK},
		{"svc-api", nil, http.StatusUnauthorized},
	} {
		t.Run(tt.clientID, func(t *testing.T) {
			cc := clientcredentials.Config{ClientID: tt.clientID, ClientSecret: svcSecret, TokenURL: g.URL + "/auth/token", Scopes: tt.scopes}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("client credentials: %v", err)
			}
			resp, body := userinfo(t, g, tok.AccessToken)
			if resp.StatusCode != tt.status {
				t.Fatalf("userinfo = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			m := decode(t, body)
			if tt.status != http.StatusOK {
				if m["error"] != "invalid_token" {
					t.Errorf("userinfo = %s, want invalid_token", body)
				}
				return
			}
			if m["sub"] != tt.clientID || m["username"] != "" || !slices.Equal(anyStrings(m["roles"]), []string{"orders-reader"}) || len(m) != 3 {
				t.Errorf("userinfo = %s, want sub %s, username \"\", the client's roles and nothing else", body, tt.clientID)
			}
		})
	}
}
