// Package authservertest is the conformance suite every authserver.Store
// backend runs: codes (round trip, single use under concurrency, expiry,
// replay returning the record) and consents (upsert, list, withdraw).
//
// Stores with referential integrity also implement user.Store; the suite
// then creates the users its rows belong to.
package authservertest

import (
	"context"
	"errors"
	"reflect"
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
		{Name: "ConsentUpsertListWithdraw", Run: testConsents},
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
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Go(func() {
			_, err := s.RedeemCode(context.Background(), "h1", at)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, auth.ErrReused):
				t.Errorf("losing RedeemCode error = %v, want ErrReused", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent redemptions won, want exactly 1", wins, n)
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
		if err := s.SaveConsent(ctx, c); err != nil {
			t.Fatalf("SaveConsent(%+v): %v", c, err)
		}
	}
	got, err := s.Consent(ctx, "u1", "web")
	want := authserver.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "email"}, GrantedAt: at.Add(time.Second)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Consent after upsert = %+v, %v; want %+v", got, err, want)
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
