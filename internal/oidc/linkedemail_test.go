package oidc_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// adminLink links the provider account subject to the local user name as
// an administrator does (user.Service.LinkAccount, through a service of
// its own over the same store, as `gatehouse user link` is): with the
// provider's issuer and no email.
func (e *env) adminLink(name, subject string) {
	e.t.Helper()
	p := e.providerConfig()
	issuer, err := p.AccountIssuer()
	if err != nil {
		e.t.Fatal(err)
	}
	admin := user.NewService(e.store, nil, user.WithIdentities(e.store),
		user.WithProviders([]user.Provider{{Name: p.Name, Issuer: issuer}}))
	if _, id, _, err := admin.LinkAccount(context.Background(), name, p.Name, subject, "cli"); err != nil || id.Email != "" {
		e.t.Fatalf("LinkAccount = %+v, %v; want a link without email", id, err)
	}
}

// An administrator's link stores no email (nobody verified one), so a
// login through it records the one its provider verifies, with the rules
// of a login's own link: only a verified address, only when
// allowed_email_domains lets the login in, and the newest verified one
// when it changed; an unverified address never replaces a verified one.
// gatehouse gives that email to its apps (docs/apps.md): without it, an
// administrator-linked user never had one.
func TestLoginThroughAnAdministratorsLinkRecordsTheVerifiedEmail(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*oidc.Provider)
		logins  []oidctestop.User // in order, all through alice's account
		refused bool              // the logins are refused
		want    string            // the link's email afterwards
	}{
		{"verified email", nil, []oidctestop.User{alice}, false, alice.Email},
		{"unverified email", nil, []oidctestop.User{withEmail(alice, alice.Email, false)}, false, ""},
		{"changed verified email", nil, []oidctestop.User{alice, withEmail(alice, "a.smith@corp.example", true)}, false, "a.smith@corp.example"},
		{"later unverified email", nil, []oidctestop.User{alice, withEmail(alice, "a.smith@corp.example", false)}, false, alice.Email},
		{"later login without email", nil, []oidctestop.User{alice, withEmail(alice, "", false)}, false, alice.Email},
		{"domain not allowed", func(p *oidc.Provider) { p.AllowedEmailDomains = []string{"other.example"} },
			[]oidctestop.User{alice}, true, ""},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnvOn(t, be.open(t), func(p *oidc.Provider) {
						p.CreateUsers = false
						if tt.edit != nil {
							tt.edit(p)
						}
					})
					local := e.createLocalUser("alice", false)
					e.adminLink(local.Username, alice.Subject)
					for i, u := range tt.logins {
						e.op.SetUser(u)
						resp := e.login("/")
						if got, want := resp.status == http.StatusSeeOther, !tt.refused; got != want {
							t.Fatalf("login %d = %d, want success %v (body %q)", i+1, resp.status, want, resp.body)
						}
					}
					id, err := e.store.IdentityBySubject(context.Background(), e.op.Issuer(), alice.Subject)
					if err != nil {
						t.Fatal(err)
					}
					if id.UserID != local.ID || id.Email != tt.want {
						t.Errorf("the link after the logins = user %s, email %q; want alice's with %q", id.UserID, id.Email, tt.want)
					}
					if id.LastLogin.IsZero() != tt.refused {
						t.Errorf("last login = %v, want one only after a login that was let in (refused %v)", id.LastLogin, tt.refused)
					}
				})
			}
		})
	}
}
