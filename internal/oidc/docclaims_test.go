package oidc_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
)

// docs/oidc.md, GitHub: a plain OAuth 2.0 provider has no default scopes
// (the authorization request carries none unless scopes lists some), and
// its identity key's issuer is the origin of auth_url unless issuer is set.
func TestOAuth2ScopesAndIssuerAsDocumented(t *testing.T) {
	tests := []struct {
		name       string
		scopes     []string
		issuer     string
		wantScope  string // "" means no scope parameter
		wantIssuer func(g *fakeGitHub) string
	}{
		{"defaults", nil, "", "", func(g *fakeGitHub) string { return g.srv.URL }},
		{"scopes and issuer set", []string{"read:user", "user:email"}, "https://github.example",
			"read:user user:email", func(*fakeGitHub) string { return "https://github.example" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			g := e.useGitHub(t, func(p *oidc.Provider) { p.Scopes, p.Issuer = tc.scopes, tc.issuer })
			if resp := e.get(e.begin("github", "/").String()); resp.status != http.StatusSeeOther {
				t.Fatalf("login: %d (body %q)", resp.status, resp.body)
			}
			g.mu.Lock()
			scope, sent := g.lastAuth["scope"]
			g.mu.Unlock()
			if tc.wantScope == "" && sent {
				t.Errorf("authorization request scope = %q, want none", scope)
			}
			if tc.wantScope != "" && (len(scope) != 1 || scope[0] != tc.wantScope) {
				t.Errorf("authorization request scope = %q, want %q", scope, tc.wantScope)
			}
			ids, err := e.store.UserIdentities(context.Background(), e.sessionUsers()[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 || ids[0].Issuer != tc.wantIssuer(g) {
				t.Errorf("identities = %+v, want one with issuer %s", ids, tc.wantIssuer(g))
			}
		})
	}
}
