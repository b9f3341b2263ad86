package tokentest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// RunRefreshStoreTests runs the token.RefreshStore conformance suite.
// newStore must return an empty store of its own (fresh file or schema) and
// register its cleanup with t.Cleanup.
func RunRefreshStoreTests(t *testing.T, newStore func(t *testing.T) token.RefreshStore) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[token.RefreshStore]{
		{Name: "CreateThenGetReturnsEveryField", Run: testCreateThenGet},
		{Name: "CreateWithTakenHashOrFamilyConflicts", Run: testCreateConflict},
		{Name: "MissingTokenIsNotFound", Run: testMissing},
		{Name: "RotateMarksUsedAndStoresSuccessor", Run: testRotate},
		{Name: "RotateRefusesAndStoresNothing", Run: testRotateRefused},
		{Name: "RevokeFamilyRevokesEveryToken", Run: testRevokeFamily},
		{Name: "RevokeUserFamiliesRevokesOnlyLiveFamiliesOfUser", Run: testRevokeUserFamilies},
		{Name: "RevokeClientFamiliesRevokesOnlyLiveFamiliesOfClient", Run: testRevokeClientFamilies},
		{Name: "DeleteExpiredRefreshPurgesEndedFamilies", Run: testDeleteExpired},
		{Name: "UserFamiliesListsLiveAndRevokedFamiliesOfUser", Run: testUserFamilies},
		{Name: "ConcurrentRotationsHaveExactlyOneWinner", Run: testConcurrentRotate},
		{Name: "RotationRacingRevocationNeverLeavesLiveSuccessor", Run: testRotateRacingRevoke},
		{Name: "RevokeFamilyBeforeItIsStoredStoresItRevoked", Run: testRevokeBeforeCreate},
		{Name: "RevocationRacingCreationNeverLeavesLiveFamily", Run: testRevokeRacingCreate},
		{Name: "RevocationOfFamilyNeverStoredIsForgotten", Run: testPendingRevocationPurged},
		{Name: "DeleteUserRemovesTheirTokens", Run: testDeleteUserCascade},
		{Name: "FamilyKeepsAMRAndIPAcrossRotation", Run: testFamilyAMRAndIP},
		{Name: "FamilyWithoutRefreshTokenSaysSoWhenReadAndRevoked", Run: testNoRefreshFamily},
	})
}

// base is a wall-clock time with microsecond precision, the finest every
// store keeps. Tokens live in its future so that stores expiring keys in
// real time (Redis) keep them for the test.
func base() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// newFamily stores the first token of a new family of userID issued at now:
// 1h idle expiry, 24h family end.
func newFamily(t *testing.T, s token.RefreshStore, userID, family string, now time.Time) token.Refresh {
	t.Helper()
	storetest.EnsureUser(t, s, userID, base())
	r := token.Refresh{
		Hash:            family + "-hash-0",
		FamilyID:        family,
		UserID:          userID,
		ClientID:        "spa",
		Scope:           "openid profile",
		IssuedAt:        now,
		ExpiresAt:       now.Add(time.Hour),
		FamilyExpiresAt: now.Add(24 * time.Hour),
	}
	if err := s.CreateRefresh(context.Background(), r); err != nil {
		t.Fatalf("CreateRefresh(%s): %v", family, err)
	}
	return r
}

// successor is the token that rotating r at now stores.
func successor(r token.Refresh, hash string, now time.Time) token.Refresh {
	return token.Refresh{
		Hash:            hash,
		FamilyID:        r.FamilyID,
		UserID:          r.UserID,
		ClientID:        r.ClientID,
		Scope:           r.Scope,
		IssuedAt:        now,
		ExpiresAt:       now.Add(time.Hour),
		FamilyExpiresAt: r.FamilyExpiresAt,
	}
}

func get(t *testing.T, s token.RefreshStore, hash string) token.Refresh {
	t.Helper()
	r, err := s.Refresh(context.Background(), hash)
	if err != nil {
		t.Fatalf("Refresh(%s): %v", hash, err)
	}
	return r
}

func assertNotFound(t *testing.T, s token.RefreshStore, hash string) {
	t.Helper()
	if _, err := s.Refresh(context.Background(), hash); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Refresh(%s) error = %v, want ErrNotFound", hash, err)
	}
}

func assertRefresh(t *testing.T, got, want token.Refresh) {
	t.Helper()
	if got.Hash != want.Hash || got.FamilyID != want.FamilyID || got.UserID != want.UserID ||
		got.ClientID != want.ClientID || got.Scope != want.Scope || !got.IssuedAt.Equal(want.IssuedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.FamilyExpiresAt.Equal(want.FamilyExpiresAt) ||
		!got.UsedAt.Equal(want.UsedAt) || !got.RevokedAt.Equal(want.RevokedAt) {
		t.Fatalf("refresh = %+v\nwant      %+v", got, want)
	}
}

func testCreateThenGet(t *testing.T, s token.RefreshStore) {
	want := newFamily(t, s, "u1", "fam-1", base())
	assertRefresh(t, get(t, s, want.Hash), want)
}

func testCreateConflict(t *testing.T, s token.RefreshStore) {
	now := base()
	first := newFamily(t, s, "u1", "fam-1", now)
	tests := []struct {
		name string
		r    token.Refresh
	}{
		{"SameHash", func() token.Refresh { r := first; r.FamilyID = "fam-2"; return r }()},
		{"SameFamily", func() token.Refresh { r := first; r.Hash = "other-hash"; return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateRefresh(context.Background(), tt.r); !errors.Is(err, auth.ErrConflict) {
				t.Fatalf("CreateRefresh error = %v, want ErrConflict", err)
			}
		})
	}
	assertRefresh(t, get(t, s, first.Hash), first)
	assertNotFound(t, s, "other-hash")
}

func testMissing(t *testing.T, s token.RefreshStore) {
	assertNotFound(t, s, "nope")
	_, err := s.RotateRefresh(context.Background(), "nope", base(), token.Refresh{Hash: "next"})
	if !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("RotateRefresh(unknown) error = %v, want ErrNotFound", err)
	}
	assertNotFound(t, s, "next")
}

func testRotate(t *testing.T, s token.RefreshStore) {
	now := base()
	first := newFamily(t, s, "u1", "fam-1", now)
	at := now.Add(10 * time.Minute)
	next := successor(first, "fam-1-hash-1", at)
	old, err := s.RotateRefresh(context.Background(), first.Hash, at, next)
	if err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	assertRefresh(t, old, first) // as it was before: unused

	used := first
	used.UsedAt = at
	assertRefresh(t, get(t, s, first.Hash), used)
	assertRefresh(t, get(t, s, next.Hash), next)

	// The successor rotates in turn.
	at2 := at.Add(10 * time.Minute)
	if _, err := s.RotateRefresh(context.Background(), next.Hash, at2, successor(next, "fam-1-hash-2", at2)); err != nil {
		t.Fatalf("RotateRefresh(successor): %v", err)
	}
}

func testRotateRefused(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()

	used := newFamily(t, s, "u1", "fam-used", now)
	if _, err := s.RotateRefresh(ctx, used.Hash, now.Add(time.Minute), successor(used, "fam-used-1", now)); err != nil {
		t.Fatalf("first RotateRefresh: %v", err)
	}
	expired := newFamily(t, s, "u1", "fam-expired", now)
	revoked := newFamily(t, s, "u1", "fam-revoked", now)
	if err := s.RevokeFamily(ctx, revoked.FamilyID, now.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}

	tests := []struct {
		name string
		old  token.Refresh
		at   time.Time
		want error
	}{
		{"AlreadyUsed", used, now.Add(2 * time.Minute), auth.ErrReused},
		{"UsedAndExpiredIsStillReuse", used, now.Add(2 * time.Hour), auth.ErrReused},
		{"ExpiredAtExactEnd", expired, expired.ExpiresAt, auth.ErrExpired},
		{"ExpiredAfterEnd", expired, expired.ExpiresAt.Add(time.Second), auth.ErrExpired},
		{"FamilyRevoked", revoked, now.Add(2 * time.Minute), auth.ErrRevoked},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := fmt.Sprintf("refused-%d", i)
			got, err := s.RotateRefresh(ctx, tt.old.Hash, tt.at, successor(tt.old, hash, tt.at))
			if !errors.Is(err, tt.want) {
				t.Fatalf("RotateRefresh error = %v, want %v", err, tt.want)
			}
			if got.Hash != tt.old.Hash || got.FamilyID != tt.old.FamilyID {
				t.Fatalf("RotateRefresh returned %q of family %q, want the old token %q of %q", got.Hash, got.FamilyID, tt.old.Hash, tt.old.FamilyID)
			}
			assertNotFound(t, s, hash)
		})
	}
	// A refused expiry does not consume the token.
	if got := get(t, s, expired.Hash); !got.UsedAt.IsZero() {
		t.Fatalf("expired token UsedAt = %v after refused rotation, want zero", got.UsedAt)
	}
}

func testRevokeFamily(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	first := newFamily(t, s, "u1", "fam-1", now)
	next := successor(first, "fam-1-hash-1", now.Add(time.Minute))
	if _, err := s.RotateRefresh(ctx, first.Hash, now.Add(time.Minute), next); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	other := newFamily(t, s, "u1", "fam-2", now)

	revokedAt := now.Add(2 * time.Minute)
	if err := s.RevokeFamily(ctx, "fam-1", revokedAt); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	if err := s.RevokeFamily(ctx, "fam-1", revokedAt.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeFamily again: %v", err)
	}
	for _, hash := range []string{first.Hash, next.Hash} {
		if got := get(t, s, hash); !got.RevokedAt.Equal(revokedAt) {
			t.Errorf("Refresh(%s).RevokedAt = %v, want %v", hash, got.RevokedAt, revokedAt)
		}
	}
	if got := get(t, s, other.Hash); !got.RevokedAt.IsZero() {
		t.Errorf("other family RevokedAt = %v, want zero", got.RevokedAt)
	}
	if _, err := s.RotateRefresh(ctx, next.Hash, revokedAt.Add(time.Minute), successor(next, "after", revokedAt)); !errors.Is(err, auth.ErrRevoked) {
		t.Fatalf("RotateRefresh(revoked family) error = %v, want ErrRevoked", err)
	}
}

func testRevokeUserFamilies(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	live1 := newFamily(t, s, "alice", "alice-1", now)
	live2 := newFamily(t, s, "alice", "alice-2", now)
	already := newFamily(t, s, "alice", "alice-revoked", now)
	if err := s.RevokeFamily(ctx, already.FamilyID, now); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	bob := newFamily(t, s, "bob", "bob-1", now)

	at := now.Add(time.Minute)
	fams, err := s.RevokeUserFamilies(ctx, "alice", at)
	if err != nil {
		t.Fatalf("RevokeUserFamilies: %v", err)
	}
	var ids []string
	for _, f := range fams {
		ids = append(ids, f.ID)
		if !f.ExpiresAt.Equal(live1.FamilyExpiresAt) {
			t.Errorf("family %s ExpiresAt = %v, want %v", f.ID, f.ExpiresAt, live1.FamilyExpiresAt)
		}
	}
	slices.Sort(ids)
	if want := []string{live1.FamilyID, live2.FamilyID}; !slices.Equal(ids, want) {
		t.Fatalf("RevokeUserFamilies = %v, want %v", ids, want)
	}
	for _, r := range []token.Refresh{live1, live2} {
		if got := get(t, s, r.Hash); !got.RevokedAt.Equal(at) {
			t.Errorf("Refresh(%s).RevokedAt = %v, want %v", r.Hash, got.RevokedAt, at)
		}
	}
	if got := get(t, s, bob.Hash); !got.RevokedAt.IsZero() {
		t.Fatalf("bob's token RevokedAt = %v, want zero", got.RevokedAt)
	}
	if fams, err := s.RevokeUserFamilies(ctx, "alice", at); err != nil || len(fams) != 0 {
		t.Fatalf("second RevokeUserFamilies = %v, %v; want none", fams, err)
	}
}

func testRevokeClientFamilies(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	alice := newFamily(t, s, "alice", "alice-spa", now) // newFamily's client is "spa"
	bob := newFamily(t, s, "bob", "bob-spa", now)
	other := token.Refresh{Hash: "bob-other-hash-0", FamilyID: "bob-other", UserID: "bob", ClientID: "other",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateRefresh(ctx, other); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}

	at := now.Add(time.Minute)
	fams, err := s.RevokeClientFamilies(ctx, "spa", at)
	if err != nil {
		t.Fatalf("RevokeClientFamilies: %v", err)
	}
	var ids []string
	for _, f := range fams {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	if want := []string{alice.FamilyID, bob.FamilyID}; !slices.Equal(ids, want) {
		t.Fatalf("RevokeClientFamilies = %v, want %v", ids, want)
	}
	for _, r := range []token.Refresh{alice, bob} {
		if got := get(t, s, r.Hash); !got.RevokedAt.Equal(at) {
			t.Errorf("Refresh(%s).RevokedAt = %v, want %v", r.Hash, got.RevokedAt, at)
		}
	}
	if got := get(t, s, other.Hash); !got.RevokedAt.IsZero() {
		t.Fatalf("another client's token RevokedAt = %v, want zero", got.RevokedAt)
	}
	if fams, err := s.RevokeClientFamilies(ctx, "spa", at); err != nil || len(fams) != 0 {
		t.Fatalf("second RevokeClientFamilies = %v, %v; want none", fams, err)
	}
}

func testDeleteExpired(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	ended := newFamily(t, s, "u1", "ended", now)
	if _, err := s.RotateRefresh(ctx, ended.Hash, now.Add(time.Minute), successor(ended, "ended-1", now.Add(time.Minute))); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	// A later family: its used token stays, it is what detects reuse.
	liveStart := now.Add(12 * time.Hour)
	live := newFamily(t, s, "u1", "live", liveStart)
	if _, err := s.RotateRefresh(ctx, live.Hash, liveStart.Add(time.Minute), successor(live, "live-1", liveStart.Add(time.Minute))); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}

	purgeAt := now.Add(25 * time.Hour)
	n, err := s.DeleteExpiredRefresh(ctx, purgeAt)
	if err != nil {
		t.Fatalf("DeleteExpiredRefresh: %v", err)
	}
	if got, want := n, 2; got != want {
		t.Errorf("DeleteExpiredRefresh removed %d tokens, want %d", got, want)
	}
	assertNotFound(t, s, ended.Hash)
	assertNotFound(t, s, "ended-1")
	get(t, s, live.Hash)
	get(t, s, "live-1")
	if n, err := s.DeleteExpiredRefresh(ctx, purgeAt); err != nil || n != 0 {
		t.Fatalf("second DeleteExpiredRefresh = %d, %v; want 0", n, err)
	}
}

func testConcurrentRotate(t *testing.T, s token.RefreshStore) {
	const workers = 20
	now := base()
	first := newFamily(t, s, "u1", "fam-1", now)
	at := now.Add(time.Minute)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		reused  int
	)
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			hash := fmt.Sprintf("next-%02d", i)
			old, err := s.RotateRefresh(context.Background(), first.Hash, at, successor(first, hash, at))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, hash)
			case errors.Is(err, auth.ErrReused):
				reused++
				if old.FamilyID != first.FamilyID {
					t.Errorf("ErrReused returned family %q, want %q", old.FamilyID, first.FamilyID)
				}
			default:
				t.Errorf("RotateRefresh: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 || reused != workers-1 {
		t.Fatalf("%d winners %v, %d ErrReused; want exactly 1 winner and %d ErrReused", len(winners), winners, reused, workers-1)
	}
	for i := range workers {
		hash := fmt.Sprintf("next-%02d", i)
		if hash == winners[0] {
			get(t, s, hash)
			continue
		}
		assertNotFound(t, s, hash)
	}
}

func testRotateRacingRevoke(t *testing.T, s token.RefreshStore) {
	const rounds = 10
	ctx := context.Background()
	now := base()
	for i := range rounds {
		fam := fmt.Sprintf("race-%d", i)
		first := newFamily(t, s, "u1", fam, now)
		next := successor(first, fam+"-next", now.Add(time.Minute))
		var (
			wg                   sync.WaitGroup
			rotateErr, revokeErr error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, rotateErr = s.RotateRefresh(ctx, first.Hash, now.Add(time.Minute), next)
		}()
		go func() { defer wg.Done(); revokeErr = s.RevokeFamily(ctx, fam, now.Add(time.Minute)) }()
		wg.Wait()
		if revokeErr != nil {
			t.Fatalf("RevokeFamily: %v", revokeErr)
		}
		switch {
		case rotateErr == nil:
			if got := get(t, s, next.Hash); got.RevokedAt.IsZero() {
				t.Fatalf("round %d: rotation won the race but its successor is not revoked", i)
			}
		case errors.Is(rotateErr, auth.ErrRevoked):
			assertNotFound(t, s, next.Hash)
		default:
			t.Fatalf("round %d: RotateRefresh error = %v, want nil or ErrRevoked", i, rotateErr)
		}
	}
}

// testRevokeBeforeCreate: RevokeFamily revokes a family's future tokens,
// its first one included. An authorization code replayed while its first
// redemption runs revokes the family (the code's sid) before that
// redemption stores it; the family is then stored revoked and
// CreateRefresh says so, so its refresh token never works.
func testRevokeBeforeCreate(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	revokedAt := now.Add(time.Minute)
	revokeAhead(t, s, "early", revokedAt)
	storetest.EnsureUser(t, s, "u1", now)
	early := token.Refresh{Hash: "early-hash-0", FamilyID: "early", UserID: "u1", ClientID: "spa",
		IssuedAt: now.Add(2 * time.Minute), ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateRefresh(ctx, early); !errors.Is(err, auth.ErrRevoked) {
		t.Fatalf("CreateRefresh(revoked family) error = %v, want ErrRevoked", err)
	}
	if got := get(t, s, early.Hash); !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, revokedAt)
	}
	at := now.Add(3 * time.Minute)
	if _, err := s.RotateRefresh(ctx, early.Hash, at, successor(early, "early-hash-1", at)); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("RotateRefresh error = %v, want ErrRevoked", err)
	}
	// Other families are not touched.
	if got := get(t, s, newFamily(t, s, "u1", "other", now).Hash); !got.RevokedAt.IsZero() {
		t.Errorf("other family RevokedAt = %v, want zero", got.RevokedAt)
	}
}

// revokeAhead revokes family, which is not stored yet. The store may say
// so (auth.ErrNotFound), but must keep the revocation for the family.
func revokeAhead(t *testing.T, s token.RefreshStore, family string, at time.Time) {
	t.Helper()
	if err := s.RevokeFamily(context.Background(), family, at); err != nil && !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("RevokeFamily(%s) not stored yet: error = %v, want nil or ErrNotFound", family, err)
	}
}

// testRevokeRacingCreate: a revocation and the family's creation running
// at once end with the family revoked, whichever commits first.
func testRevokeRacingCreate(t *testing.T, s token.RefreshStore) {
	const rounds = 20
	ctx := context.Background()
	now := base()
	storetest.EnsureUser(t, s, "u1", now)
	for i := range rounds {
		r := token.Refresh{Hash: fmt.Sprintf("race-%d-hash", i), FamilyID: fmt.Sprintf("race-%d", i), UserID: "u1",
			ClientID: "spa", IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour)}
		var (
			wg                   sync.WaitGroup
			createErr, revokeErr error
		)
		wg.Add(2)
		go func() { defer wg.Done(); createErr = s.CreateRefresh(ctx, r) }()
		go func() { defer wg.Done(); revokeErr = s.RevokeFamily(ctx, r.FamilyID, now.Add(time.Minute)) }()
		wg.Wait()
		if revokeErr != nil && !errors.Is(revokeErr, auth.ErrNotFound) {
			t.Fatalf("round %d: RevokeFamily error = %v, want nil or ErrNotFound", i, revokeErr)
		}
		if createErr != nil && !errors.Is(createErr, auth.ErrRevoked) {
			t.Fatalf("round %d: CreateRefresh error = %v, want nil or ErrRevoked", i, createErr)
		}
		if got := get(t, s, r.Hash); got.RevokedAt.IsZero() {
			t.Fatalf("round %d: family stored alongside its revocation is live (CreateRefresh error %v)", i, createErr)
		}
	}
}

// testPendingRevocationPurged: the revocation of a family not stored yet is
// kept for at least an hour (an authorization code lives 60 s) and
// forgotten by DeleteExpiredRefresh within a week, so that revocations of
// families that never came do not pile up.
func testPendingRevocationPurged(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	for _, fam := range []string{"kept", "forgotten"} {
		revokeAhead(t, s, fam, now)
	}
	storetest.EnsureUser(t, s, "u1", now)
	create := func(fam string, at time.Time) error {
		return s.CreateRefresh(ctx, token.Refresh{Hash: fam + "-hash", FamilyID: fam, UserID: "u1", ClientID: "spa",
			IssuedAt: at, ExpiresAt: at.Add(time.Hour), FamilyExpiresAt: at.Add(24 * time.Hour)})
	}
	hour := now.Add(time.Hour)
	if _, err := s.DeleteExpiredRefresh(ctx, hour); err != nil {
		t.Fatalf("DeleteExpiredRefresh: %v", err)
	}
	if err := create("kept", hour); !errors.Is(err, auth.ErrRevoked) {
		t.Errorf("CreateRefresh an hour after the revocation: error = %v, want ErrRevoked", err)
	}
	week := now.Add(7 * 24 * time.Hour)
	if _, err := s.DeleteExpiredRefresh(ctx, week); err != nil {
		t.Fatalf("DeleteExpiredRefresh: %v", err)
	}
	if err := create("forgotten", week); err != nil {
		t.Fatalf("CreateRefresh a week after the revocation: %v, want a live family", err)
	}
	if got := get(t, s, "forgotten-hash"); !got.RevokedAt.IsZero() {
		t.Errorf("RevokedAt = %v a week after the revocation, want zero", got.RevokedAt)
	}
}

func testDeleteUserCascade(t *testing.T, s token.RefreshStore) {
	us, ok := s.(user.Store)
	if !ok {
		return // tokens are not tied to stored users in this backend
	}
	now := base()
	gone := newFamily(t, s, "alice", "alice-1", now)
	kept := newFamily(t, s, "bob", "bob-1", now)
	if err := us.DeleteUser(context.Background(), "alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	assertNotFound(t, s, gone.Hash)
	get(t, s, kept.Hash)
}

func testUserFamilies(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	older := newFamily(t, s, "alice", "alice-old", now)
	newer := newFamily(t, s, "alice", "alice-new", now.Add(time.Second))
	newFamily(t, s, "bob", "bob-1", now)
	if err := s.RevokeFamily(ctx, older.FamilyID, now.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeFamily: %v", err)
	}
	fams, err := s.UserFamilies(ctx, "alice", now.Add(time.Minute))
	if err != nil {
		t.Fatalf("UserFamilies: %v", err)
	}
	var ids []string
	for _, f := range fams {
		ids = append(ids, f.ID)
		if f.UserID != "alice" || f.CreatedAt.IsZero() || f.ExpiresAt.IsZero() {
			t.Errorf("family %+v misses fields", f)
		}
	}
	if want := []string{newer.FamilyID, older.FamilyID}; !slices.Equal(ids, want) {
		t.Fatalf("UserFamilies = %v, want %v (newest first)", ids, want)
	}
	if fams[1].RevokedAt.IsZero() || !fams[0].RevokedAt.IsZero() {
		t.Errorf("RevokedAt = %v, %v; want only the older family revoked", fams[0].RevokedAt, fams[1].RevokedAt)
	}
	f, err := s.Family(ctx, newer.FamilyID)
	if err != nil || f.UserID != "alice" {
		t.Errorf("Family = %+v, %v", f, err)
	}
	if _, err := s.Family(ctx, "nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Family(unknown) error = %v, want auth.ErrNotFound", err)
	}
	if fams, _ := s.UserFamilies(ctx, "alice", now.Add(10000*time.Hour)); len(fams) != 0 {
		t.Errorf("UserFamilies after the absolute end = %d families, want 0", len(fams))
	}
}

// testFamilyAMRAndIP: the amr and IP given with a family's first token stay
// with the family: every token of it reads them, successors stored without
// them included, and the families list shows them.
func testFamilyAMRAndIP(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	storetest.EnsureUser(t, s, "carol", now)
	first := token.Refresh{Hash: "amr-hash-0", FamilyID: "amr-fam", UserID: "carol", ClientID: "spa",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
		AMR: []string{"pwd", "otp", "mfa"}, IP: "192.0.2.7"}
	if err := s.CreateRefresh(ctx, first); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	at := now.Add(time.Minute)
	next := successor(first, "amr-hash-1", at) // no AMR, no IP: they are the family's
	old, err := s.RotateRefresh(ctx, first.Hash, at, next)
	if err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	for _, r := range []token.Refresh{old, get(t, s, first.Hash), get(t, s, next.Hash)} {
		if !slices.Equal(r.AMR, first.AMR) || r.IP != first.IP {
			t.Errorf("token %s: AMR %v IP %q, want %v %q", r.Hash, r.AMR, r.IP, first.AMR, first.IP)
		}
	}
	f, err := s.Family(ctx, first.FamilyID)
	if err != nil {
		t.Fatalf("Family: %v", err)
	}
	if !slices.Equal(f.AMR, first.AMR) || f.IP != first.IP || f.RotatedAt.IsZero() {
		t.Errorf("family = %+v, want AMR %v, IP %q, rotated", f, first.AMR, first.IP)
	}
	plain := newFamily(t, s, "carol", "plain-fam", now)
	if r := get(t, s, plain.Hash); r.AMR != nil || r.IP != "" {
		t.Errorf("family without amr/IP reads AMR %v IP %q, want nil and \"\"", r.AMR, r.IP)
	}
}

// A family whose refresh token is never handed out (`gatehouse token
// issue`) says so wherever it is read, and when RevokeUserFamilies returns
// it: its sid must then be denied until the family's end.
func testNoRefreshFamily(t *testing.T, s token.RefreshStore) {
	ctx := context.Background()
	now := base()
	storetest.EnsureUser(t, s, "dave", now)
	end := now.Add(72 * time.Hour)
	lone := token.Refresh{Hash: "lone-hash-0", FamilyID: "cli-lone", UserID: "dave", ClientID: "gatehouse-cli",
		IssuedAt: now, ExpiresAt: end, FamilyExpiresAt: end, NoRefresh: true}
	if err := s.CreateRefresh(ctx, lone); err != nil {
		t.Fatalf("CreateRefresh: %v", err)
	}
	plain := newFamily(t, s, "dave", "dave-plain", now)
	if r := get(t, s, lone.Hash); !r.NoRefresh {
		t.Errorf("Refresh(lone).NoRefresh = false, want true")
	}
	if r := get(t, s, plain.Hash); r.NoRefresh {
		t.Errorf("Refresh(plain).NoRefresh = true, want false")
	}
	if f, err := s.Family(ctx, lone.FamilyID); err != nil || !f.NoRefresh {
		t.Errorf("Family(lone) = %+v, %v; want NoRefresh", f, err)
	}
	fams, err := s.RevokeUserFamilies(ctx, "dave", now.Add(time.Minute))
	if err != nil {
		t.Fatalf("RevokeUserFamilies: %v", err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.ID] = f.NoRefresh
		if f.ID == lone.FamilyID && !f.ExpiresAt.Equal(end) {
			t.Errorf("revoked lone family ExpiresAt = %v, want %v", f.ExpiresAt, end)
		}
	}
	if want := map[string]bool{lone.FamilyID: true, plain.FamilyID: false}; !maps.Equal(got, want) {
		t.Fatalf("RevokeUserFamilies NoRefresh by family = %v, want %v", got, want)
	}
}
