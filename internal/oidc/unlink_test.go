package oidc_test

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

// newHire is the account a provider created for someone else and gave
// alice's old address: another sub, the same verified email.
var newHire = oidctestop.User{
	Subject: "f6e5d4c3b2a1", PreferredUsername: "alice",
	Email: alice.Email, EmailVerified: true, Name: "Alice Two",
}

// linkedAliceEnv is a provider with link_by_email and no create_users, and
// the local user alice@corp.example linked (by email) to alice's account
// (sub A) of the provider's issuer.
func linkedAliceEnv(t *testing.T, st testStore) (*env, auth.User) {
	t.Helper()
	e := newEnvOn(t, st, func(p *oidc.Provider) { p.CreateUsers = false; p.LinkByEmail = true })
	local := e.createLocalUser(alice.Email, false)
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Fatalf("alice's first login: %d, want 303 (body %q)", resp.status, resp.body)
	}
	e.forgetSessions()
	return e, local
}

func (e *env) forgetSessions() {
	e.mu.Lock()
	e.sessions = nil
	e.mu.Unlock()
}

// identitiesOf lists the (issuer, subject) pairs linked to userID.
func (e *env) identitiesOf(userID string) [][2]string {
	e.t.Helper()
	ids, err := e.store.UserIdentities(context.Background(), userID)
	if err != nil {
		e.t.Fatalf("list identities: %v", err)
	}
	out := [][2]string{}
	for _, id := range ids {
		out = append(out, [2]string{id.Issuer, id.Subject})
	}
	sortPairs(out)
	return out
}

func sortPairs(ps [][2]string) {
	slices.SortFunc(ps, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
}

// A provider that hands alice's verified address to another account (a
// departed employee's mailbox given to a new hire) must not hand that
// account alice's login: link_by_email refuses a second account of an
// issuer the user is linked to already (403 already_linked); alice's own
// account still logs in, and the same address at another issuer still
// links.
func TestLinkByEmailRefusesASecondAccountOfTheSameIssuer(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e, local := linkedAliceEnv(t, be.open(t))
			issuer := e.op.Issuer()

			e.op.SetUser(newHire)
			e.assertRefused(e.login("/"), http.StatusForbidden, "already_linked")
			if _, err := e.store.IdentityBySubject(context.Background(), issuer, newHire.Subject); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("the new hire's account: IdentityBySubject = %v, want ErrNotFound (no link)", err)
			}
			if got, want := e.identitiesOf(local.ID), [][2]string{{issuer, alice.Subject}}; !slices.Equal(got, want) {
				t.Errorf("alice's identities = %v, want %v", got, want)
			}
			if got := len(e.events(audit.IdentityLinked)); got != 1 {
				t.Errorf("%d oidc.linked events, want 1 (alice's own)", got)
			}
			// In alice's audit trail, where an administrator looks for why.
			if evs := e.events(audit.OIDCLoginFailed); len(evs) == 0 || evs[0].Details["provider"] != "corp" || evs[0].UserID != local.ID {
				t.Errorf("oidc.failed events = %+v, want the refusal naming provider corp and user %s", evs, local.ID)
			}

			e.op.SetUser(alice)
			if resp := e.login("/"); resp.status != http.StatusSeeOther {
				t.Fatalf("alice's own login after the refusal: %d, want 303 (body %q)", resp.status, resp.body)
			}
			if s := e.sessionUsers(); len(s) != 1 || s[0].ID != local.ID {
				t.Errorf("sessions = %+v, want one for %s", s, local.ID)
			}
			e.forgetSessions()

			other := oidctestop.Start(t, oidctestop.WithRedirectURIs(e.srv.URL+"/auth/oidc/other/callback"), oidctestop.WithUser(newHire))
			e.configureProviders(
				func() oidc.Provider { p := e.providerConfig(); p.CreateUsers, p.LinkByEmail = false, true; return p }(),
				oidc.Provider{Name: "other", Issuer: other.Issuer(), ClientID: other.ClientID(), ClientSecret: other.ClientSecret(), LinkByEmail: true},
			)
			if resp := e.get(e.begin("other", "/").String()); resp.status != http.StatusSeeOther {
				t.Fatalf("the same address at another issuer: %d, want 303 (body %q)", resp.status, resp.body)
			}
			if s := e.sessionUsers(); len(s) != 1 || s[0].ID != local.ID {
				t.Errorf("sessions = %+v, want one for %s", s, local.ID)
			}
			want := [][2]string{{issuer, alice.Subject}, {other.Issuer(), newHire.Subject}}
			sortPairs(want)
			if got := e.identitiesOf(local.ID); !slices.Equal(got, want) {
				t.Errorf("alice's identities = %v, want %v", got, want)
			}
		})
	}
}

// The administrator's remedy: once alice's old account is unlinked, the
// account the address now belongs to links by email like any first login
// (and alice's old account, whose address is the same, is now the second
// account of the issuer and refused in turn).
func TestUnlinkLetsTheReassignedAccountLink(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			e, local := linkedAliceEnv(t, be.open(t))
			issuer := e.op.Issuer()
			e.op.SetUser(newHire)
			e.assertRefused(e.login("/"), http.StatusForbidden, "already_linked")

			if _, err := e.userService.Unlink(context.Background(), local.Username, issuer, alice.Subject, "cli"); err != nil {
				t.Fatalf("Unlink: %v", err)
			}
			evs := e.events(audit.IdentityUnlinked)
			if len(evs) != 1 || evs[0].UserID != local.ID || evs[0].Username != local.Username ||
				evs[0].Details["issuer"] != issuer || evs[0].Details["subject"] != alice.Subject || evs[0].Details["provider"] != "corp" {
				t.Errorf("oidc.unlinked events = %+v, want one for %s naming corp, %s and %s", evs, local.ID, issuer, alice.Subject)
			}

			resp := e.login("/")
			if resp.status != http.StatusSeeOther {
				t.Fatalf("the reassigned account after the unlink: %d, want 303 (body %q)", resp.status, resp.body)
			}
			if s := e.sessionUsers(); len(s) != 1 || s[0].ID != local.ID {
				t.Errorf("sessions = %+v, want one for %s", s, local.ID)
			}
			if got, want := e.identitiesOf(local.ID), [][2]string{{issuer, newHire.Subject}}; !slices.Equal(got, want) {
				t.Errorf("identities after the new link = %v, want %v", got, want)
			}
			e.forgetSessions()

			e.op.SetUser(alice)
			e.assertRefused(e.login("/"), http.StatusForbidden, "already_linked")
		})
	}
}
