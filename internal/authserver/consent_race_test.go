package authserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/client"
)

// Consents to one app given at once (two tabs, two instances), each to
// scopes of its own, add up: every scope any of them allowed is allowed
// afterwards. Before, Consent read the old consent, added the new scopes
// and wrote the whole list back, so concurrent consents overwrote each
// other and the user was asked again for scopes they had allowed.
func TestConcurrentConsentsKeepEveryScope(t *testing.T) {
	const n = 16
	f := newFixture(t, "")
	ctx := context.Background()
	c := thirdParty
	all := []string{client.ScopeOpenID}
	for i := range n {
		all = append(all, fmt.Sprintf("scope-%02d", i))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if err := f.server.Consent(ctx, c, f.user.ID, []string{client.ScopeOpenID, all[i+1]}); err != nil {
				t.Errorf("Consent %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	got, err := f.store.Consent(ctx, f.user.ID, c.ID)
	if err != nil {
		t.Fatalf("Consent after the race: %v", err)
	}
	if need, err := f.server.NeedsConsent(ctx, c, f.user.ID, all); err != nil || need {
		t.Fatalf("after %d concurrent consents the stored consent is %v (%v); want every one of %v", n, got.Scopes, err, all)
	}
}

// A consent given while the user withdraws their consent to the same app
// (on /account in another tab) ends as if one ran after the other: either
// no consent, or just the scopes of the new one. Before, Consent could
// read the old consent, the withdrawal delete it, and Consent write the
// old scopes back with the new: the withdrawn scopes came back without the
// user allowing them again.
func TestConsentRacingWithdrawalNeverRestoresWithdrawnScopes(t *testing.T) {
	const rounds = 30
	f := newFixture(t, "")
	ctx := context.Background()
	c := thirdParty
	for round := range rounds {
		if err := f.server.Consent(ctx, c, f.user.ID, []string{"withdrawn"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if err := f.server.WithdrawConsent(ctx, f.user.ID, c.ID); err != nil {
				t.Errorf("WithdrawConsent: %v", err)
			}
		})
		wg.Go(func() {
			<-start
			if err := f.server.Consent(ctx, c, f.user.ID, []string{"new"}); err != nil {
				t.Errorf("Consent: %v", err)
			}
		})
		close(start)
		wg.Wait()
		if need, err := f.server.NeedsConsent(ctx, c, f.user.ID, []string{"withdrawn"}); err != nil || !need {
			got, _ := f.store.Consent(ctx, f.user.ID, c.ID)
			t.Fatalf("round %d: consent after a withdrawal racing a new consent = %v (%v); want no \"withdrawn\"", round, got.Scopes, err)
		}
		_ = f.server.WithdrawConsent(ctx, f.user.ID, c.ID) // next round starts from nothing
	}
}
