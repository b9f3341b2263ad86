package oidc_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/store/sqlite/sqlitetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// linkFault is a real store that runs before ahead of its first
// CreateIdentity (fault injection): an error from before fails that link,
// nil lets it go on to the real store.
type linkFault struct {
	testStore
	once   sync.Once
	before func(ctx context.Context, id user.Identity) error
}

func (s *linkFault) CreateIdentity(ctx context.Context, id user.Identity) error {
	var err error
	s.once.Do(func() { err = s.before(ctx, id) })
	if err != nil {
		return err
	}
	return s.testStore.CreateIdentity(ctx, id)
}

// A new user whose identity could not be linked is not left behind: the
// login fails, and the next one creates the account under the same name
// instead of a second, passwordless account under the next candidate.
func TestFailedLinkLeavesNoAccount(t *testing.T) {
	st := &linkFault{testStore: sqlitetest.New(t), before: func(context.Context, user.Identity) error {
		return fmt.Errorf("%w: injected link failure", auth.ErrUnavailable)
	}}
	e := newEnvOn(t, st, nil)
	e.assertRefused(e.login("/"), http.StatusServiceUnavailable, "store_unavailable")
	if us := e.users(); len(us) != 0 {
		t.Errorf("users after the failed link = %+v, want none", us)
	}
	created, deleted := e.events(audit.UserCreated), e.events(audit.UserDeleted)
	if len(created) != 1 || len(deleted) != 1 || deleted[0].UserID != created[0].UserID {
		t.Errorf("audit: created %+v, deleted %+v; want the account's creation and its deletion", created, deleted)
	} else if got, want := deleted[0].Details["method"], "oidc:corp"; got != want {
		t.Errorf("user.deleted method = %q, want %q", got, want)
	}

	resp := e.login("/")
	if resp.status != http.StatusSeeOther {
		t.Fatalf("retry: status %d, want 303 (body %q)", resp.status, resp.body)
	}
	us := e.users()
	if len(us) != 1 || us[0].Username != "alice" {
		t.Errorf("users after the retry = %+v, want alice only", us)
	}
	if s := e.sessionUsers(); len(s) != 1 || s[0].Username != "alice" {
		t.Errorf("sessions = %+v, want one for alice", s)
	}
}

// A login that loses the race to link its identity (a parallel login of
// the same person linked it first) logs in as the winner's user and drops
// the account it created.
func TestLoginThatLosesTheLinkRaceUsesTheWinner(t *testing.T) {
	var winner auth.User
	st := &linkFault{testStore: sqlitetest.New(t)}
	st.before = func(ctx context.Context, id user.Identity) error {
		// The parallel login: its own new account, linked first.
		now := time.Now().UTC()
		winner = auth.User{ID: user.NewID(), Username: "alice@corp.example", Roles: []string{"user"}, CreatedAt: now, UpdatedAt: now}
		if err := st.testStore.CreateUser(ctx, winner); err != nil {
			return err
		}
		id.UserID, id.CreatedAt, id.LastLogin = winner.ID, now, now
		return st.testStore.CreateIdentity(ctx, id)
	}
	e := newEnvOn(t, st, nil)
	resp := e.login("/app/")
	if resp.status != http.StatusSeeOther || resp.location != "/app/" {
		t.Fatalf("status %d to %q, want 303 to /app/ (body %q)", resp.status, resp.location, resp.body)
	}
	if s := e.sessionUsers(); len(s) != 1 || s[0].ID != winner.ID {
		t.Errorf("sessions = %+v, want one for the winner %s", s, winner.ID)
	}
	if us := e.users(); len(us) != 1 || us[0].ID != winner.ID {
		t.Errorf("users = %+v, want the winner's only", us)
	}
	if got := len(e.events(audit.UserDeleted)); got != 1 {
		t.Errorf("%d user.deleted events, want 1 (the losing login's account)", got)
	}
}

// Two accounts of one issuer that link by email to one user at the same
// moment both pass the "one account per issuer" check before either links;
// the store lets one link, and the other login is refused as if it had
// come second (403 already_linked, in the user's trail), not 503 and not
// a second link.
func TestLinkByEmailThatLosesTheIssuerRaceIsAlreadyLinked(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			st := &linkFault{testStore: be.open(t)}
			e := newEnvOn(t, st, func(p *oidc.Provider) { p.CreateUsers = false; p.LinkByEmail = true })
			local := e.createLocalUser(alice.Email, false)
			issuer := e.op.Issuer()
			st.before = func(ctx context.Context, _ user.Identity) error {
				// The parallel login of alice's own account, linked first.
				now := time.Now().UTC()
				return st.testStore.CreateIdentity(ctx, user.Identity{Issuer: issuer, Subject: alice.Subject, UserID: local.ID,
					Provider: "corp", CreatedAt: now, LastLogin: now})
			}
			e.op.SetUser(newHire)
			e.assertRefused(e.login("/"), http.StatusForbidden, "already_linked")
			if got, want := e.identitiesOf(local.ID), [][2]string{{issuer, alice.Subject}}; !slices.Equal(got, want) {
				t.Errorf("identities = %v, want %v", got, want)
			}
			if evs := e.events(audit.OIDCLoginFailed); len(evs) != 1 || evs[0].Details["reason"] != "already_linked" || evs[0].UserID != local.ID {
				t.Errorf("oidc.failed events = %+v, want already_linked for %s", evs, local.ID)
			}
			if s := e.sessionUsers(); len(s) != 0 {
				t.Errorf("sessions = %+v, want none", s)
			}
		})
	}
}
