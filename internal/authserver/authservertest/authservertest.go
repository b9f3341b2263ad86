// Package authservertest is the conformance suite every authserver.Store
// backend runs: codes (round trip, single use under concurrency, expiry,
// replay returning the record) and consents (add, list, withdraw, all
// under concurrency).
//
// Stores with referential integrity also implement user.Store; the suite
// then creates the users its rows belong to.
package authservertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// RunStoreTests runs the authserver.Store conformance suite. newStore must
// return an empty store of its own and register its cleanup with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) authserver.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[authserver.Store]{
		{Name: "CodeRoundTripAndRedeemMarksUsed", Run: testCodeRoundTrip},
		{Name: "CodeReplayIsReusedWithRecord", Run: testCodeReplay},
		{Name: "ExpiredCodeIsRefused", Run: testCodeExpired},
		{Name: "UnknownCodeIsNotFound", Run: testCodeUnknown},
		{Name: "ConcurrentRedeemsHaveExactlyOneWinner", Run: testCodeConcurrent},
		{Name: "DeleteExpiredCodesPurgesOnlyExpired", Run: testCodePurge},
		{Name: "ConsentAddListWithdraw", Run: testConsents},
		{Name: "ConcurrentConsentAddsKeepEveryScope", Run: testConsentConcurrent},
		{Name: "ConsentAddRacingDeleteNeverRestoresDeletedScopes", Run: testConsentAddRacingDelete},
	})
}

func ensureUser(t *testing.T, s authserver.Store, id string) {
	t.Helper()
	us, ok := s.(user.Store)
	if !ok {
		return
	}
	err := us.CreateUser(context.Background(), auth.User{ID: id, Username: id, CreatedAt: storetest.Now(), UpdatedAt: storetest.Now()})
	if err != nil && !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("CreateUser(%s): %v", id, err)
	}
}

func sampleCode(hash string, at time.Time) authserver.Code {
	return authserver.Code{
		Hash: hash, ClientID: "web", UserID: "u1", SessionID: "sess", RedirectURI: "https://app.example.com/cb",
		Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Nonce: "n-1", Scope: "openid email", FamilyID: "fam-" + hash,
		AuthTime: at.Add(-time.Minute), AMR: []string{"pwd"}, IssuedAt: at, ExpiresAt: at.Add(time.Minute),
	}
}

func mustCode(t *testing.T, s authserver.Store, c authserver.Code) {
	t.Helper()
	ensureUser(t, s, c.UserID)
	if err := s.CreateCode(context.Background(), c); err != nil {
		t.Fatalf("CreateCode: %v", err)
	}
}

func testCodeRoundTrip(t *testing.T, s authserver.Store) {
	at := storetest.Now()
	want := sampleCode("h1", at)
	mustCode(t, s, want)
	got, err := s.RedeemCode(context.Background(), "h1", at.Add(time.Second))
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	want.UsedAt = at.Add(time.Second)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RedeemCode = %+v\nwant        %+v", got, want)
	}
}

func testCodeReplay(t *testing.T, s authserver.Store) {
	at := storetest.Now()
	mustCode(t, s, sampleCode("h1", at))
	if _, err := s.RedeemCode(context.Background(), "h1", at); err != nil {
		t.Fatalf("first RedeemCode: %v", err)
	}
	got, err := s.RedeemCode(context.Background(), "h1", at.Add(time.Second))
	if !errors.Is(err, auth.ErrReused) {
		t.Fatalf("second RedeemCode error = %v, want ErrReused", err)
	}
	if got.FamilyID != "fam-h1" || !got.UsedAt.Equal(at) {
		t.Fatalf("replayed code record = %+v, want the family and the first use", got)
	}
}

func testCodeExpired(t *testing.T, s authserver.Store) {
	at := storetest.Now()
	mustCode(t, s, sampleCode("h1", at))
	if _, err := s.RedeemCode(context.Background(), "h1", at.Add(time.Minute)); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("RedeemCode at expiry error = %v, want ErrExpired", err)
	}
}

func testCodeUnknown(t *testing.T, s authserver.Store) {
	if _, err := s.RedeemCode(context.Background(), "nope", storetest.Now()); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("RedeemCode(unknown) error = %v, want ErrNotFound", err)
	}
}

func testCodeConcurrent(t *testing.T, s authserver.Store) {
	at := storetest.Now()
	mustCode(t, s, sampleCode("h1", at))
	var (
		mu     sync.Mutex
		wins   int
		reused int
	)
	storetest.Together(storetest.Workers, func(int) {
		rec, err := s.RedeemCode(context.Background(), "h1", at)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			wins++
		case errors.Is(err, auth.ErrReused):
			reused++
			// The loser revokes what the code gave (contract §8): it
			// needs the record's family and user.
			if rec.FamilyID != "fam-h1" || rec.UserID != "u1" {
				t.Errorf("losing RedeemCode record = %+v, want family fam-h1 of u1", rec)
			}
		default:
			t.Errorf("losing RedeemCode error = %v, want ErrReused", err)
		}
	})
	if wins != 1 || reused != storetest.Workers-1 {
		t.Fatalf("%d concurrent redemptions: %d won, %d ErrReused; want exactly 1 and %d", storetest.Workers, wins, reused, storetest.Workers-1)
	}
}

// testConsentConcurrent: consents to one client added at once (two tabs,
// two instances), each with a scope of its own, add up to one consent
// holding every scope once, granted at the time of one of them.
func testConsentConcurrent(t *testing.T, s authserver.Store) {
	ctx := context.Background()
	ensureUser(t, s, "u1")
	at := storetest.Now()
	want := []string{"openid"}
	for i := range storetest.Workers {
		want = append(want, fmt.Sprintf("scope-%02d", i))
	}
	storetest.Together(storetest.Workers, func(i int) {
		c := authserver.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", want[i+1]}, GrantedAt: at.Add(time.Duration(i) * time.Second)}
		if err := s.AddConsent(ctx, c); err != nil {
			t.Errorf("AddConsent %d: %v", i, err)
		}
	})
	list, err := s.UserConsents(ctx, "u1")
	if err != nil || len(list) != 1 {
		t.Fatalf("UserConsents after %d concurrent adds = %+v, %v; want one consent", storetest.Workers, list, err)
	}
	got := slices.Sorted(slices.Values(list[0].Scopes))
	if !slices.Equal(got, want) {
		t.Errorf("scopes after %d concurrent adds = %v, want every one of %v once", storetest.Workers, got, want)
	}
	if d := list[0].GrantedAt.Sub(at); d < 0 || d >= storetest.Workers*time.Second || d%time.Second != 0 {
		t.Errorf("GrantedAt = %v, want the time of one of the adds", list[0].GrantedAt)
	}
}

// testConsentAddRacingDelete: an add racing the deletion of the same
// consent ends as if one ran after the other: no consent, or one with just
// the added scopes, never the deleted scopes back.
func testConsentAddRacingDelete(t *testing.T, s authserver.Store) {
	ctx := context.Background()
	ensureUser(t, s, "u1")
	at := storetest.Now()
	for round := range 10 {
		if err := s.AddConsent(ctx, authserver.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"old"}, GrantedAt: at}); err != nil {
			t.Fatalf("AddConsent: %v", err)
		}
		storetest.Together(2, func(i int) {
			var err error
			if i == 0 {
				err = s.DeleteConsent(ctx, "u1", "web")
			} else {
				err = s.AddConsent(ctx, authserver.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"new"}, GrantedAt: at})
			}
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		})
		got, err := s.Consent(ctx, "u1", "web")
		switch {
		case errors.Is(err, auth.ErrNotFound):
		case err != nil:
			t.Fatalf("Consent: %v", err)
		case !slices.Equal(got.Scopes, []string{"new"}):
			t.Fatalf("round %d: consent after an add racing its deletion = %v, want none or [new]", round, got.Scopes)
		}
		if err := s.DeleteConsent(ctx, "u1", "web"); err != nil && !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("DeleteConsent: %v", err)
		}
	}
}

func testCodePurge(t *testing.T, s authserver.Store) {
	at := storetest.Now()
	mustCode(t, s, sampleCode("old", at.Add(-time.Hour)))
	mustCode(t, s, sampleCode("new", at))
	n, err := s.DeleteExpiredCodes(context.Background(), at)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredCodes = %d, %v; want 1", n, err)
	}
	if _, err := s.RedeemCode(context.Background(), "new", at); err != nil {
		t.Fatalf("live code after purge: %v", err)
	}
}

func testConsents(t *testing.T, s authserver.Store) {
	ctx := context.Background()
	ensureUser(t, s, "u1")
	ensureUser(t, s, "u2")
	if _, err := s.Consent(ctx, "u1", "web"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("Consent(none) error = %v, want ErrNotFound", err)
	}
	at := storetest.Now()
	for _, c := range []authserver.Consent{
		{UserID: "u1", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: at},
		{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "email"}, GrantedAt: at.Add(time.Second)},
		{UserID: "u1", ClientID: "cli", Scopes: []string{"openid"}, GrantedAt: at},
		{UserID: "u2", ClientID: "web", Scopes: []string{"profile"}, GrantedAt: at},
	} {
		if err := s.AddConsent(ctx, c); err != nil {
			t.Fatalf("AddConsent(%+v): %v", c, err)
		}
	}
	got, err := s.Consent(ctx, "u1", "web")
	want := authserver.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "email"}, GrantedAt: at.Add(time.Second)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Consent after the second add = %+v, %v; want %+v", got, err, want)
	}
	list, err := s.UserConsents(ctx, "u1")
	if err != nil || len(list) != 2 || list[0].ClientID != "cli" || list[1].ClientID != "web" {
		t.Fatalf("UserConsents(u1) = %+v, %v", list, err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); err != nil {
		t.Fatalf("DeleteConsent: %v", err)
	}
	if err := s.DeleteConsent(ctx, "u1", "web"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second DeleteConsent error = %v, want ErrNotFound", err)
	}
	if _, err := s.Consent(ctx, "u2", "web"); err != nil {
		t.Fatalf("other user's consent gone: %v", err)
	}
}
