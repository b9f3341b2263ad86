package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// gatehouse tells its apps email_verified: true for the email of a linked
// login identity, so only an address the login provider verified may be
// kept there: otherwise an account created from an unverified address
// (Entra, a self-registered Keycloak user, GitHub) is vouched for to apps
// that link accounts by verified email — the nOAuth takeover one hop on.
//
// An account an administrator linked has no email until its first login,
// which records the one the provider verified: apps get it from then on.
func TestAppsGetOnlyAVerifiedEmailOfALoginProvider(t *testing.T) {
	tests := []struct {
		name        string
		verified    bool
		adminLinked bool // alice, linked by an administrator, not created at the login
		wantEmail   any  // nil: no email claim
	}{
		{"verified at the provider", true, false, "victim@corp.example"},
		{"unverified at the provider", false, false, nil},
		{"linked by an administrator, verified at the provider", true, true, "victim@corp.example"},
		{"linked by an administrator, unverified at the provider", false, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctestop.Start(t, oidctestop.WithUser(oidctestop.User{Subject: "sub-mallory", PreferredUsername: "mallory",
				Email: "victim@corp.example", EmailVerified: tc.verified}))
			g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
				c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
					ClientSecret: op.ClientSecret(), CreateUsers: !tc.adminLinked}}
				c.Clients = []config.Client{{ID: "web", Type: "confidential", Secret: webSecret, RedirectURIs: []string{webCB},
					FirstParty: true, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "email"}}}
			}))
			op.AddRedirectURI(g.URL + "/auth/oidc/corp/callback")
			if tc.adminLinked {
				g.CreateUser(t, "alice", "correct horse battery staple")
				if _, id, _, err := g.App.Users.LinkAccount(context.Background(), "alice", "corp", "sub-mallory", "admin"); err != nil || id.Email != "" {
					t.Fatalf("LinkAccount = %+v, %v; want a link without an email", id, err)
				}
			}

			b := testutil.Client(t)
			providerLogin(t, g, b)
			v := oauth2.GenerateVerifier()
			code := codeFor(t, g, b, "web", webCB, v, "openid email")
			resp, toks := tokenCall(t, g, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}, "code_verifier": {v}}, "web", webSecret)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange = %d %v", resp.StatusCode, toks)
			}
			idt := jwtPart(t, toks["id_token"].(string), 1)
			if got := idt["email"]; got != tc.wantEmail {
				t.Errorf("ID token email = %v (email_verified %v), want %v", got, idt["email_verified"], tc.wantEmail)
			}
			if tc.wantEmail != nil && idt["email_verified"] != true {
				t.Errorf("ID token email_verified = %v, want true", idt["email_verified"])
			}
			resp, body := userinfo(t, g, toks["access_token"].(string))
			if info := decode(t, body); resp.StatusCode != http.StatusOK || info["email"] != tc.wantEmail {
				t.Errorf("userinfo = %d %v, want email %v", resp.StatusCode, info, tc.wantEmail)
			}
		})
	}
}
