package identitytest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// RunIdentityStoreTests runs the user.IdentityStore conformance suite.
// newStore must return an empty store of its own (fresh file or schema) and
// register its cleanup with t.Cleanup.
func RunIdentityStoreTests(t *testing.T, newStore func(t *testing.T) user.IdentityStore) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[user.IdentityStore]{
		{Name: "CreateThenGetReturnsEveryField", Run: testRoundTrip},
		{Name: "SameIssuerAndSubjectConflicts", Run: testConflict},
		{Name: "SecondAccountOfAnIssuerIsRefused", Run: testSecondOfIssuer},
		{Name: "ConcurrentLinksOfOneIssuerLinkOne", Run: testConcurrentOfIssuer},
		{Name: "MissingIdentityIsNotFound", Run: testMissing},
		{Name: "UserIdentitiesListsOnlyThatUser", Run: testUserIdentities},
		{Name: "TouchSetsLastLoginAndAGivenEmail", Run: testTouch},
		{Name: "DeleteUserRemovesTheirIdentities", Run: testDeleteUserCascade},
		{Name: "DeleteIdentityRemovesOnlyThatLink", Run: testDeleteIdentity},
	})
}

// at is a fixed time with microsecond precision, the finest every store keeps.
var at = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func newIdentity(issuer, subject, userID string, created time.Time) user.Identity {
	return user.Identity{
		Issuer: issuer, Subject: subject, UserID: userID, Provider: "corp",
		Email: subject + "@example.com", CreatedAt: created, LastLogin: created,
	}
}

func mustCreate(t *testing.T, s user.IdentityStore, id user.Identity) {
	t.Helper()
	storetest.EnsureUser(t, s, id.UserID, at)
	if err := s.CreateIdentity(context.Background(), id); err != nil {
		t.Fatalf("CreateIdentity(%s %s): %v", id.Issuer, id.Subject, err)
	}
}

func get(t *testing.T, s user.IdentityStore, issuer, subject string) user.Identity {
	t.Helper()
	id, err := s.IdentityBySubject(context.Background(), issuer, subject)
	if err != nil {
		t.Fatalf("IdentityBySubject(%s, %s): %v", issuer, subject, err)
	}
	return id
}

func assertIdentity(t *testing.T, got, want user.Identity) {
	t.Helper()
	if got.Issuer != want.Issuer || got.Subject != want.Subject || got.UserID != want.UserID ||
		got.Provider != want.Provider || got.Email != want.Email || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastLogin.Equal(want.LastLogin) {
		t.Fatalf("identity = %+v\nwant       %+v", got, want)
	}
}

func testRoundTrip(t *testing.T, s user.IdentityStore) {
	want := newIdentity("https://sso.example.com", "248289761001", "u1", at)
	mustCreate(t, s, want)
	assertIdentity(t, get(t, s, want.Issuer, want.Subject), want)
}

func testConflict(t *testing.T, s user.IdentityStore) {
	first := newIdentity("https://a.example.com", "sub-1", "u1", at)
	mustCreate(t, s, first)
	storetest.EnsureUser(t, s, "u2", at)
	if err := s.CreateIdentity(context.Background(), newIdentity(first.Issuer, first.Subject, "u2", at)); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("CreateIdentity(same issuer+subject) error = %v, want ErrConflict", err)
	}
	assertIdentity(t, get(t, s, first.Issuer, first.Subject), first)
	// The same subject at another issuer is another account.
	mustCreate(t, s, newIdentity("https://b.example.com", first.Subject, "u2", at))
}

// testSecondOfIssuer: one account per issuer and user (docs/oidc.md). A
// second subject of an issuer the user is linked to is user.ErrIssuerLinked,
// which the login answers with already_linked; the same account linked
// again (to any user, this one too) is the plain conflict whose loser logs
// in as the winner, never ErrIssuerLinked.
func testSecondOfIssuer(t *testing.T, s user.IdentityStore) {
	ctx := context.Background()
	first := newIdentity("https://a.example.com", "sub-1", "u1", at)
	mustCreate(t, s, first)
	if err := s.CreateIdentity(ctx, newIdentity(first.Issuer, "sub-2", "u1", at.Add(time.Second))); !errors.Is(err, user.ErrIssuerLinked) {
		t.Fatalf("CreateIdentity(another subject of the issuer, same user) error = %v, want user.ErrIssuerLinked", err)
	}
	if _, err := s.IdentityBySubject(ctx, first.Issuer, "sub-2"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("the refused account: IdentityBySubject error = %v, want ErrNotFound", err)
	}
	storetest.EnsureUser(t, s, "u2", at)
	for _, userID := range []string{"u1", "u2"} {
		err := s.CreateIdentity(ctx, newIdentity(first.Issuer, first.Subject, userID, at))
		if !errors.Is(err, auth.ErrConflict) || errors.Is(err, user.ErrIssuerLinked) {
			t.Fatalf("CreateIdentity(the linked account again, for %s) error = %v, want ErrConflict, not ErrIssuerLinked", userID, err)
		}
	}
	assertIdentity(t, get(t, s, first.Issuer, first.Subject), first)
	// Another issuer, and another user of the issuer, are no second account.
	mustCreate(t, s, newIdentity("https://b.example.com", "sub-2", "u1", at))
	mustCreate(t, s, newIdentity(first.Issuer, "sub-2", "u2", at))
	// Unlinked, the user can be linked to another account of the issuer.
	if err := s.DeleteIdentity(ctx, first.Issuer, first.Subject); err != nil {
		t.Fatalf("DeleteIdentity: %v", err)
	}
	mustCreate(t, s, newIdentity(first.Issuer, "sub-3", "u1", at.Add(time.Hour)))
}

// testConcurrentOfIssuer: logins of several accounts of one issuer that
// link to one user at the same moment (link_by_email, each having checked
// that the user has no account of the issuer yet) link exactly one; every
// other is refused with user.ErrIssuerLinked.
func testConcurrentOfIssuer(t *testing.T, s user.IdentityStore) {
	const issuer, n = "https://a.example.com", 8
	storetest.EnsureUser(t, s, "u1", at)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateIdentity(context.Background(), newIdentity(issuer, "sub-"+strconv.Itoa(i), "u1", at))
		})
	}
	wg.Wait()
	linked := 0
	for i, err := range errs {
		switch {
		case err == nil:
			linked++
		case !errors.Is(err, user.ErrIssuerLinked):
			t.Errorf("link %d error = %v, want nil or user.ErrIssuerLinked", i, err)
		}
	}
	ids, err := s.UserIdentities(context.Background(), "u1")
	if err != nil {
		t.Fatalf("UserIdentities: %v", err)
	}
	if linked != 1 || len(ids) != 1 {
		t.Fatalf("%d of %d concurrent links succeeded, %d stored; want exactly 1", linked, n, len(ids))
	}
}

func testMissing(t *testing.T, s user.IdentityStore) {
	mustCreate(t, s, newIdentity("https://a.example.com", "sub-1", "u1", at))
	tests := []struct {
		name            string
		issuer, subject string
	}{
		{"UnknownSubject", "https://a.example.com", "sub-2"},
		{"OtherIssuer", "https://b.example.com", "sub-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.IdentityBySubject(context.Background(), tt.issuer, tt.subject); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("IdentityBySubject error = %v, want ErrNotFound", err)
			}
			if err := s.TouchIdentity(context.Background(), tt.issuer, tt.subject, at, "a@example.com"); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("TouchIdentity error = %v, want ErrNotFound", err)
			}
		})
	}
}

func testUserIdentities(t *testing.T, s user.IdentityStore) {
	mustCreate(t, s, newIdentity("https://a.example.com", "alice-a", "alice", at))
	mustCreate(t, s, newIdentity("https://b.example.com", "alice-b", "alice", at.Add(time.Second)))
	mustCreate(t, s, newIdentity("https://a.example.com", "bob-a", "bob", at))
	tests := []struct {
		userID string
		want   []string
	}{
		{"alice", []string{"alice-a", "alice-b"}},
		{"bob", []string{"bob-a"}},
		{"carol", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.userID, func(t *testing.T) {
			ids, err := s.UserIdentities(context.Background(), tt.userID)
			if err != nil {
				t.Fatalf("UserIdentities: %v", err)
			}
			got := []string{}
			for _, id := range ids {
				got = append(got, id.Subject)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("UserIdentities(%s) = %v, want %v", tt.userID, got, tt.want)
			}
		})
	}
}

// testTouch: a login sets LastLogin, and Email when it brings one (an
// administrator's link has none until its first login); without one the
// stored email stays.
func testTouch(t *testing.T, s user.IdentityStore) {
	later := at.Add(48 * time.Hour)
	tests := []struct {
		name, stored, email, want string
	}{
		{"no email given keeps the stored one", "old@example.com", "", "old@example.com"},
		{"an email replaces the stored one", "old@example.com", "new@example.com", "new@example.com"},
		{"an email fills an empty one", "", "new@example.com", "new@example.com"},
		{"no email on none stays none", "", "", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := newIdentity("https://a.example.com", "sub-"+strconv.Itoa(i), "u"+strconv.Itoa(i), at)
			id.Email = tt.stored
			mustCreate(t, s, id)
			if err := s.TouchIdentity(context.Background(), id.Issuer, id.Subject, later, tt.email); err != nil {
				t.Fatalf("TouchIdentity: %v", err)
			}
			id.LastLogin, id.Email = later, tt.want
			assertIdentity(t, get(t, s, id.Issuer, id.Subject), id)
		})
	}
}

func testDeleteUserCascade(t *testing.T, s user.IdentityStore) {
	us, ok := s.(user.Store)
	if !ok {
		return // identities are not tied to stored users in this backend
	}
	mustCreate(t, s, newIdentity("https://a.example.com", "alice-a", "alice", at))
	mustCreate(t, s, newIdentity("https://a.example.com", "bob-a", "bob", at))
	if err := us.DeleteUser(context.Background(), "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.IdentityBySubject(context.Background(), "https://a.example.com", "alice-a"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("IdentityBySubject(deleted user's) error = %v, want ErrNotFound", err)
	}
	get(t, s, "https://a.example.com", "bob-a")
}

func testDeleteIdentity(t *testing.T, s user.IdentityStore) {
	ctx := context.Background()
	gone := newIdentity("https://a.example.com", "alice-a", "alice", at)
	mustCreate(t, s, gone)
	mustCreate(t, s, newIdentity("https://b.example.com", "alice-a", "alice", at))
	mustCreate(t, s, newIdentity("https://a.example.com", "bob-a", "bob", at))
	if err := s.DeleteIdentity(ctx, gone.Issuer, gone.Subject); err != nil {
		t.Fatalf("DeleteIdentity: %v", err)
	}
	if _, err := s.IdentityBySubject(ctx, gone.Issuer, gone.Subject); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("IdentityBySubject(deleted) error = %v, want ErrNotFound", err)
	}
	ids, err := s.UserIdentities(ctx, "alice")
	if err != nil || len(ids) != 1 || ids[0].Issuer != "https://b.example.com" {
		t.Fatalf("UserIdentities(alice) = %+v, %v; want the other issuer's only", ids, err)
	}
	get(t, s, "https://a.example.com", "bob-a")
	tests := []struct {
		name            string
		issuer, subject string
	}{
		{"AlreadyDeleted", gone.Issuer, gone.Subject},
		{"UnknownSubject", gone.Issuer, "carol-a"},
		{"OtherIssuer", "https://c.example.com", "bob-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.DeleteIdentity(ctx, tt.issuer, tt.subject); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("DeleteIdentity(%s, %s) error = %v, want ErrNotFound", tt.issuer, tt.subject, err)
			}
		})
	}
	// Unlinked, the account can be linked again, to another user too.
	relinked := newIdentity(gone.Issuer, gone.Subject, "carol", at.Add(time.Hour))
	mustCreate(t, s, relinked)
	assertIdentity(t, get(t, s, gone.Issuer, gone.Subject), relinked)
}
