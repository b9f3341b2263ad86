// Package oidctest is the conformance suite of oidc.LogoutStore, the links
// from provider sessions to gatehouse sessions and the logout token IDs
// that inbound back-channel logout keeps. Every store that implements it
// runs the same cases (store/sqldb/sqldbtest for SQLite and PostgreSQL).
package oidctest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunLogoutStoreTests runs the oidc.LogoutStore conformance suite.
func RunLogoutStoreTests(t *testing.T, newStore func(t *testing.T) oidc.LogoutStore) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[oidc.LogoutStore]{
		{Name: "ListsSessionsByProviderSIDAndSubject", Run: testList},
		{Name: "ExpiredLinksAreNotListedAndArePurged", Run: testExpiry},
		{Name: "MoveRenamesTheLinkAndItsExpiry", Run: testMove},
		{Name: "LogoutTokenIDIsGoodOncePerProvider", Run: testJTI},
		{Name: "ConcurrentUsesOfOneLogoutTokenIDAcceptOne", Run: testJTIConcurrent},
	})
}

// link is one LinkProviderSession call.
type link struct{ provider, sid, subject, userID, session string }

func linkAll(t *testing.T, s oidc.LogoutStore, at, expires time.Time, links ...link) {
	t.Helper()
	for i, l := range links {
		storetest.EnsureUser(t, s, l.userID, at)
		// Creation times one microsecond apart make the listing order the
		// order of the links.
		created := at.Add(time.Duration(i) * time.Microsecond)
		if err := s.LinkProviderSession(context.Background(), l.provider, l.sid, l.subject, l.userID, l.session, created, expires); err != nil {
			t.Fatalf("LinkProviderSession(%s): %v", l.session, err)
		}
	}
}

func list(t *testing.T, s oidc.LogoutStore, provider, sid, subject string, at time.Time) []string {
	t.Helper()
	ids, err := s.ProviderSessionIDs(context.Background(), provider, sid, subject, at)
	if err != nil {
		t.Fatalf("ProviderSessionIDs(%s, %q, %q): %v", provider, sid, subject, err)
	}
	return ids
}

func testList(t *testing.T, s oidc.LogoutStore) {
	at := storetest.Now()
	linkAll(t, s, at, at.Add(time.Hour),
		link{"corp", "sid-a", "sub-1", "u1", "s1"},
		link{"corp", "sid-a", "sub-1", "u1", "s2"},
		link{"corp", "sid-b", "sub-1", "u1", "s3"},
		link{"other", "sid-a", "sub-1", "u1", "s4"},
		link{"corp", "", "sub-2", "u2", "s5"},
	)
	tests := []struct {
		name, provider, sid, subject string
		want                         []string
	}{
		{"by sid", "corp", "sid-a", "", []string{"s1", "s2"}},
		{"by sid and subject", "corp", "sid-a", "sub-1", []string{"s1", "s2"}},
		{"by sid of another subject", "corp", "sid-a", "sub-2", nil},
		{"by subject", "corp", "", "sub-1", []string{"s1", "s2", "s3"}},
		{"by subject, linked without sid", "corp", "", "sub-2", []string{"s5"}},
		{"neither sid nor subject", "corp", "", "", nil},
		{"another provider's sid", "other", "sid-a", "", []string{"s4"}},
		{"unknown provider", "nobody", "sid-a", "", nil},
	}
	for _, tt := range tests {
		if got := list(t, s, tt.provider, tt.sid, tt.subject, at); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ProviderSessionIDs(%s, %q, %q) = %v, want %v", tt.name, tt.provider, tt.sid, tt.subject, got, tt.want)
		}
	}
}

func testExpiry(t *testing.T, s oidc.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	linkAll(t, s, at, at.Add(time.Minute), link{"corp", "sid-a", "sub-1", "u1", "short"})
	linkAll(t, s, at, at.Add(time.Hour), link{"corp", "sid-a", "sub-1", "u1", "long"})
	if got, want := list(t, s, "corp", "sid-a", "", at.Add(time.Minute)), []string{"long"}; !slices.Equal(got, want) {
		t.Fatalf("at the short link's expiry: %v, want %v", got, want)
	}
	if err := s.UseLogoutJTI(ctx, "corp", "jti-1", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredProviderSessions(ctx, at.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpiredProviderSessions = %d, %v; want 2 (a link and a jti)", n, err)
	}
	if got, want := list(t, s, "corp", "sid-a", "", at), []string{"long"}; !slices.Equal(got, want) {
		t.Errorf("after the purge, listed before any expiry: %v, want %v", got, want)
	}
	if err := s.UseLogoutJTI(ctx, "corp", "jti-1", at.Add(time.Hour)); err != nil {
		t.Errorf("UseLogoutJTI of a purged jti: %v, want it accepted again", err)
	}
}

func testMove(t *testing.T, s oidc.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	linkAll(t, s, at, at.Add(time.Minute), link{"corp", "sid-a", "sub-1", "u1", "old"})
	if err := s.MoveProviderSession(ctx, "old", "new", at.Add(time.Hour)); err != nil {
		t.Fatalf("MoveProviderSession: %v", err)
	}
	for _, when := range []time.Time{at, at.Add(30 * time.Minute)} { // the second is past the old expiry
		if got, want := list(t, s, "corp", "sid-a", "", when), []string{"new"}; !slices.Equal(got, want) {
			t.Errorf("listed at +%s after the move: %v, want %v", when.Sub(at), got, want)
		}
	}
	if err := s.MoveProviderSession(ctx, "never-linked", "other", at.Add(time.Hour)); err != nil {
		t.Errorf("MoveProviderSession of a session no login linked: %v, want nil", err)
	}
	if got := list(t, s, "corp", "", "sub-1", at); !slices.Equal(got, []string{"new"}) {
		t.Errorf("after moving an unlinked session: %v, want [new]", got)
	}
}

func testJTI(t *testing.T, s oidc.LogoutStore) {
	ctx, exp := context.Background(), storetest.Now().Add(time.Hour)
	if err := s.UseLogoutJTI(ctx, "corp", "jti-1", exp); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.UseLogoutJTI(ctx, "corp", "jti-1", exp); !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("second use = %v, want auth.ErrConflict", err)
	}
	if err := s.UseLogoutJTI(ctx, "other", "jti-1", exp); err != nil {
		t.Errorf("the same jti from another provider: %v, want accepted", err)
	}
	if err := s.ReleaseLogoutJTI(ctx, "corp", "jti-1"); err != nil {
		t.Fatalf("ReleaseLogoutJTI: %v", err)
	}
	if err := s.UseLogoutJTI(ctx, "corp", "jti-1", exp); err != nil {
		t.Errorf("use after release: %v, want accepted", err)
	}
	if err := s.ReleaseLogoutJTI(ctx, "corp", "never-used"); err != nil {
		t.Errorf("ReleaseLogoutJTI of an unknown jti: %v, want nil", err)
	}
}

// testJTIConcurrent: one logout token delivered many times at once (a
// provider retrying, or a replay racing the original) is acted on once:
// exactly one UseLogoutJTI succeeds, every other one is auth.ErrConflict.
func testJTIConcurrent(t *testing.T, s oidc.LogoutStore) {
	ctx, exp := context.Background(), storetest.Now().Add(time.Hour)
	accepted, conflicts := storetest.RaceConflicts(t, storetest.Workers, func(int) error {
		return s.UseLogoutJTI(ctx, "corp", "jti-race", exp)
	})
	if accepted != 1 || conflicts != storetest.Workers-1 {
		t.Fatalf("%d concurrent uses of one logout token ID: %d accepted, %d conflicts; want 1 and %d",
			storetest.Workers, accepted, conflicts, storetest.Workers-1)
	}
}
