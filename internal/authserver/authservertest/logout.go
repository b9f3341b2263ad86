package authservertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
)

// RunLogoutStoreTests runs the authserver.LogoutStore conformance suite.
func RunLogoutStoreTests(t *testing.T, newStore func(t *testing.T) authserver.LogoutStore) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[authserver.LogoutStore]{
		{Name: "EndSessionHandsGrantsOutOnceAndQueuesOnePerClient", Run: testEndSession},
		{Name: "ConcurrentClaimsLeaseEachDeliveryOnce", Run: testClaimExclusive},
		{Name: "ConcurrentEndSessionsHandEachGrantOutOnce", Run: testEndSessionConcurrent},
		{Name: "FinishRetriesDeliversOrGivesUp", Run: testFinish},
		{Name: "ReleaseHandsUnfinishedLeasesBack", Run: testRelease},
		{Name: "DeleteExpiredRemovesOnlyDeliveriesPastTheirDeadline", Run: testDeleteExpired},
		{Name: "DeleteSessionGrantsRemovesOnlyGrantsMadeBefore", Run: testDeleteSessionGrants},
		{Name: "MoveSessionGrantsKeepsTheSIDTheClientKnows", Run: testMoveSessionGrants},
	})
}

func grant(family, session, clientID string) authserver.SessionGrant {
	return authserver.SessionGrant{FamilyID: family, SessionID: session, ClientID: clientID, UserID: "u1", CreatedAt: storetest.Now()}
}

func queue(t *testing.T, s authserver.LogoutStore, grants ...authserver.SessionGrant) {
	t.Helper()
	for _, g := range grants {
		if err := s.AddSessionGrant(context.Background(), g); err != nil {
			t.Fatalf("AddSessionGrant: %v", err)
		}
	}
}

func testEndSession(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	queue(t, s, grant("f1", "s1", "web"), grant("f2", "s1", "web"), grant("f3", "s1", "cli"), grant("f4", "s2", "web"))
	listed, err := s.UserSessionGrants(ctx, "u1")
	if err != nil || len(listed) != 4 {
		t.Fatalf("UserSessionGrants = %d, %v", len(listed), err)
	}
	got, err := s.EndSession(ctx, "s1", at, at.Add(time.Minute))
	if err != nil || len(got) != 3 {
		t.Fatalf("EndSession = %v, %v; want the 3 grants of s1", got, err)
	}
	again, err := s.EndSession(ctx, "s1", at, at.Add(time.Minute))
	if err != nil || len(again) != 0 {
		t.Fatalf("second EndSession = %v, %v; want nothing", again, err)
	}
	due, err := s.ClaimLogouts(ctx, "me", at, time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("ClaimLogouts = %+v, %v; want one delivery per client (web, cli)", due, err)
	}
}

func testClaimExclusive(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	for _, c := range []string{"a", "b", "c", "d", "e"} {
		queue(t, s, grant("f"+c, "s", c))
	}
	if _, err := s.EndSession(ctx, "s", at, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for i := range 4 {
		wg.Go(func() {
			due, err := s.ClaimLogouts(ctx, string(rune('p'+i)), at, time.Minute, 10)
			if err != nil && !errors.Is(err, auth.ErrUnavailable) {
				t.Errorf("ClaimLogouts: %v", err)
			}
			mu.Lock()
			total += len(due)
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 5 {
		t.Fatalf("%d deliveries leased by 4 concurrent claimers, want each of 5 exactly once", total)
	}
	if due, _ := s.ClaimLogouts(ctx, "late", at.Add(30*time.Second), time.Minute, 10); len(due) != 0 {
		t.Fatalf("leased deliveries claimed again before the lease ran out: %v", due)
	}
	if due, _ := s.ClaimLogouts(ctx, "late", at.Add(2*time.Minute), time.Minute, 10); len(due) != 5 {
		t.Fatalf("after the lease ran out %d claimable, want 5 (the owner crashed)", len(due))
	}
}

// testEndSessionConcurrent: one session ended on several instances at once
// (logout racing sign-out-everywhere, a user disable, an inbound
// back-channel logout): every grant is handed out by exactly one of the
// calls, whose caller revokes its family, and each client is queued one
// logout, not one per call.
func testEndSessionConcurrent(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	clients := []string{"a", "b", "c", "d"}
	for i, c := range clients {
		queue(t, s, grant("f"+c, "s", c), grant(fmt.Sprintf("g%d", i), "s", c))
	}
	var (
		mu     sync.Mutex
		handed []string
	)
	storetest.Together(storetest.Workers, func(int) {
		got, err := s.EndSession(ctx, "s", at, at.Add(time.Minute))
		if err != nil {
			t.Errorf("EndSession: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, g := range got {
			handed = append(handed, g.FamilyID)
		}
	})
	slices.Sort(handed)
	if want := []string{"fa", "fb", "fc", "fd", "g0", "g1", "g2", "g3"}; !slices.Equal(handed, want) {
		t.Fatalf("grants handed out by %d concurrent EndSession = %v, want each of %v exactly once", storetest.Workers, handed, want)
	}
	due, err := s.ClaimLogouts(ctx, "me", at, time.Minute, 100)
	if err != nil {
		t.Fatalf("ClaimLogouts: %v", err)
	}
	var got []string
	for _, d := range due {
		got = append(got, d.ClientID)
	}
	slices.Sort(got)
	if !slices.Equal(got, clients) {
		t.Fatalf("deliveries queued = %v, want one per client %v", got, clients)
	}
}

func testFinish(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	queue(t, s, grant("f1", "s", "a"), grant("f2", "s", "b"), grant("f3", "s", "c"))
	if _, err := s.EndSession(ctx, "s", at, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	due, _ := s.ClaimLogouts(ctx, "me", at, time.Minute, 10)
	if len(due) != 3 {
		t.Fatalf("claimed %d", len(due))
	}
	if err := s.FinishLogout(ctx, due[0].ID, "other", at, true, time.Time{}); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("FinishLogout by a non-owner error = %v, want ErrNotFound", err)
	}
	_ = s.FinishLogout(ctx, due[0].ID, "me", at, true, time.Time{})
	_ = s.FinishLogout(ctx, due[1].ID, "me", at, false, at.Add(5*time.Second))
	_ = s.FinishLogout(ctx, due[2].ID, "me", at, false, time.Time{})
	if got, _ := s.ClaimLogouts(ctx, "me", at.Add(2*time.Second), time.Minute, 10); len(got) != 0 {
		t.Errorf("claimable before the retry time: %v", got)
	}
	got, _ := s.ClaimLogouts(ctx, "me", at.Add(6*time.Second), time.Minute, 10)
	if len(got) != 1 || got[0].ID != due[1].ID || got[0].Attempts != 1 {
		t.Errorf("after retry time = %+v, want only the retried delivery with 1 attempt", got)
	}
}

func testRelease(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	for _, c := range []string{"a", "b", "c", "d"} {
		queue(t, s, grant("f"+c, "s", c))
	}
	if _, err := s.EndSession(ctx, "s", at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mine, _ := s.ClaimLogouts(ctx, "leaving", at, time.Minute, 3)
	theirs, _ := s.ClaimLogouts(ctx, "staying", at, time.Minute, 10)
	if len(mine) != 3 || len(theirs) != 1 {
		t.Fatalf("claimed %d and %d, want 3 and 1", len(mine), len(theirs))
	}
	_ = s.FinishLogout(ctx, mine[0].ID, "leaving", at, true, time.Time{})
	_ = s.FinishLogout(ctx, mine[1].ID, "leaving", at, false, at.Add(time.Minute))
	if err := s.ReleaseLogouts(ctx, "leaving"); err != nil {
		t.Fatalf("ReleaseLogouts: %v", err)
	}
	if err := s.ReleaseLogouts(ctx, "nobody"); err != nil {
		t.Fatalf("ReleaseLogouts of an owner without leases: %v", err)
	}
	// Long before the leases would run out, only the released, unfinished
	// delivery is claimable: not the delivered one, not the one due later,
	// not the other owner's.
	got, _ := s.ClaimLogouts(ctx, "next", at.Add(time.Second), time.Minute, 10)
	if len(got) != 1 || got[0].ID != mine[2].ID || got[0].Attempts != 0 {
		t.Fatalf("after release = %+v, want only %s with 0 attempts", got, mine[2].ID)
	}
	if err := s.FinishLogout(ctx, theirs[0].ID, "staying", at, true, time.Time{}); err != nil {
		t.Errorf("the other owner's lease was touched: FinishLogout = %v", err)
	}
}

func testDeleteExpired(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	queue(t, s, grant("f1", "old", "a"), grant("f2", "old", "b"), grant("f3", "new", "a"))
	if _, err := s.EndSession(ctx, "old", at, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EndSession(ctx, "new", at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpiredLogouts(ctx, at.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("DeleteExpiredLogouts at the deadline = %d, %v; want 0 (only deadlines before it)", n, err)
	}
	if n, err := s.DeleteExpiredLogouts(ctx, at.Add(2*time.Minute)); err != nil || n != 2 {
		t.Fatalf("DeleteExpiredLogouts = %d, %v; want the 2 deliveries of the old session", n, err)
	}
	got, _ := s.ClaimLogouts(ctx, "me", at, time.Minute, 10)
	if len(got) != 1 || got[0].SessionID != "new" {
		t.Fatalf("left after the purge = %+v, want only the new session's delivery", got)
	}
}

func testDeleteSessionGrants(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	old, edge := grant("f1", "old", "a"), grant("f2", "edge", "a")
	old.CreatedAt, edge.CreatedAt = at.Add(-2*time.Hour), at.Add(-time.Hour)
	queue(t, s, old, edge, grant("f3", "new", "b"))
	if n, err := s.DeleteSessionGrants(ctx, at.Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteSessionGrants = %d, %v; want the 1 grant made before the cutoff", n, err)
	}
	left, err := s.UserSessionGrants(ctx, "u1")
	if err != nil || len(left) != 2 || left[0].SessionID != "edge" || left[1].SessionID != "new" {
		t.Fatalf("UserSessionGrants after the purge = %+v, %v; want edge and new", left, err)
	}
	if got, err := s.EndSession(ctx, "old", at, at.Add(time.Minute)); err != nil || len(got) != 0 {
		t.Fatalf("EndSession of the purged session = %v, %v; want no grants", got, err)
	}
}

func testMoveSessionGrants(t *testing.T, s authserver.LogoutStore) {
	ctx, at := context.Background(), storetest.Now()
	other := grant("f4", "s1", "spa")
	other.UserID = "u2" // session IDs are one user's; the move is too
	queue(t, s, grant("f1", "s1", "web"), grant("f2", "s1", "cli"), grant("f3", "s9", "web"), other)
	if n, err := s.MoveSessionGrants(ctx, "u1", "s1", "s2"); err != nil || n != 2 {
		t.Fatalf("MoveSessionGrants = %d, %v; want the 2 grants of u1's session s1", n, err)
	}
	if n, err := s.MoveSessionGrants(ctx, "u1", "s1", "s2"); err != nil || n != 0 {
		t.Fatalf("second MoveSessionGrants = %d, %v; want nothing left to move", n, err)
	}
	listed, err := s.UserSessionGrants(ctx, "u1")
	if err != nil || len(listed) != 3 {
		t.Fatalf("UserSessionGrants = %+v, %v", listed, err)
	}
	for _, g := range listed {
		want := map[string][2]string{"f1": {"s2", "s1"}, "f2": {"s2", "s1"}, "f3": {"s9", "s9"}}[g.FamilyID]
		if g.SessionID != want[0] || g.SID != want[1] {
			t.Errorf("grant %s in session %q with sid %q, want %q with sid %q", g.FamilyID, g.SessionID, g.SID, want[0], want[1])
		}
	}
	// A second step-up moves them on; their sid stays the first session's.
	queue(t, s, grant("f5", "s2", "web"))
	if n, err := s.MoveSessionGrants(ctx, "u1", "s2", "s3"); err != nil || n != 3 {
		t.Fatalf("MoveSessionGrants s2 → s3 = %d, %v; want 3", n, err)
	}
	if got, err := s.EndSession(ctx, "s1", at, at.Add(time.Minute)); err != nil || len(got) != 1 || got[0].FamilyID != "f4" {
		t.Fatalf("EndSession of the old session = %+v, %v; want only the other user's grant", got, err)
	}
	if got, err := s.EndSession(ctx, "s2", at, at.Add(time.Minute)); err != nil || len(got) != 0 {
		t.Fatalf("EndSession of the intermediate session = %+v, %v; want nothing", got, err)
	}
	got, err := s.EndSession(ctx, "s3", at, at.Add(time.Minute))
	if err != nil || len(got) != 3 {
		t.Fatalf("EndSession of the successor = %+v, %v; want the 3 moved grants", got, err)
	}
	due, err := s.ClaimLogouts(ctx, "me", at, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var deliveries []string
	for _, d := range due {
		if d.UserID == "u1" {
			deliveries = append(deliveries, d.ClientID+"@"+d.SessionID)
		}
	}
	slices.Sort(deliveries)
	if want := []string{"cli@s1", "web@s1", "web@s2"}; !slices.Equal(deliveries, want) {
		t.Fatalf("deliveries = %v, want %v: one per client and the sid each grant's client was told", deliveries, want)
	}
}
