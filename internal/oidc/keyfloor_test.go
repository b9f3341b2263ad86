package oidc_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
)

// forgedLogouts is how many forged logout tokens a test posts in a burst.
const forgedLogouts = 20

// postForgedLogouts posts 2n logout tokens, n one after another, then n
// at once, each signed by a key the provider does not publish under a kid
// of its own (unknown to gatehouse), and checks that each is refused with
// 400.
func (e *env) postForgedLogouts(n int) {
	e.t.Helper()
	raws := make([]string, 2*n)
	for i := range raws {
		raw, err := e.op.SignForeign(e.op.NewLogoutToken(alice.Subject), fmt.Sprintf("forged-%d", i))
		if err != nil {
			e.t.Fatal(err)
		}
		raws[i] = raw
	}
	statuses := make([]int, len(raws))
	post := func(i int) {
		resp, err := http.PostForm(e.srv.URL+"/auth/oidc/corp/backchannel-logout", url.Values{"logout_token": {raws[i]}})
		if err != nil {
			e.t.Errorf("POST backchannel-logout: %v", err)
			return
		}
		resp.Body.Close()
		statuses[i] = resp.StatusCode
	}
	for i := range n {
		post(i)
	}
	var wg sync.WaitGroup
	for i := n; i < 2*n; i++ {
		wg.Go(func() { post(i) })
	}
	wg.Wait()
	for i, status := range statuses {
		if status != http.StatusBadRequest {
			e.t.Errorf("forged logout token %d = %d, want 400", i, status)
		}
	}
}

// Anyone can post a logout token naming a kid gatehouse has not seen, and
// an unknown kid makes gatehouse fetch the provider's key set (key
// rotation, OIDC Core 10.1). Without a floor every such POST was a fetch
// at the provider: an anonymous client made gatehouse hammer it, until
// the provider rate-limited gatehouse and real logins failed. The keys are
// fetched at most once per oidc.KeyRefetchFloor: a burst of forged tokens
// costs the provider one fetch at most, and a key the provider rotated to
// is picked up, for logout tokens and ID tokens alike, once the floor
// since the last fetch has passed.
func TestForgedTokensDoNotHammerTheProviderKeys(t *testing.T) {
	e := newEnv(t, withBackchannel)
	first := e.loginAs() // fetches the keys: the ID token's kid is new
	fetched := e.op.KeySetRequests()
	if fetched != 1 {
		t.Fatalf("the first login fetched the key set %d times, want 1", fetched)
	}

	// Inside the floor of that fetch: no fetch at all.
	e.postForgedLogouts(forgedLogouts)
	if got := e.op.KeySetRequests(); got != fetched {
		t.Errorf("%d forged logout tokens right after a fetch: %d key set fetches, want none", 2*forgedLogouts, got-fetched)
	}
	fetched = e.op.KeySetRequests()

	// Past the floor: the burst costs one fetch, however concurrent.
	e.clock.Advance(oidc.KeyRefetchFloor + 1)
	e.postForgedLogouts(forgedLogouts)
	if got := e.op.KeySetRequests(); got-fetched > 1 {
		t.Errorf("%d forged logout tokens past the floor: %d key set fetches, want at most 1", 2*forgedLogouts, got-fetched)
	}
	if !e.alive(first) {
		t.Fatal("a forged logout token ended the session")
	}

	// The provider rotates its key. Inside the floor of the last fetch a
	// token under the new kid is refused as badly signed, without a fetch
	// (the provider would retry a 503, not a 400: the floor is short).
	kid, err := e.op.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	fetched = e.op.KeySetRequests()
	assertInvalidRequest(t, e.sendLogout(e.op.NewLogoutToken(alice.Subject)))
	if got := e.op.KeySetRequests(); got != fetched {
		t.Errorf("a token under the new kid %s inside the floor: %d key set fetches, want none", kid, got-fetched)
	}

	// Past the floor, the first token under the new kid fetches the keys
	// and is accepted.
	e.clock.Advance(oidc.KeyRefetchFloor + 1)
	if resp := e.sendLogout(e.op.NewLogoutToken(alice.Subject)); resp.status != http.StatusOK {
		t.Fatalf("logout token under the rotated key past the floor = %d %s, want 200", resp.status, resp.body)
	}
	if e.alive(first) {
		t.Error("the session is alive after the provider's logout under its rotated key")
	}
	if got := e.op.KeySetRequests(); got != fetched+1 {
		t.Errorf("the rotated key cost %d key set fetches, want 1", got-fetched)
	}

	// And an ID token signed with a key rotated to since: a login.
	if _, err := e.op.RotateKey(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(oidc.KeyRefetchFloor + 1)
	e.newBrowser()
	if resp := e.login("/"); resp.status != http.StatusSeeOther {
		t.Errorf("login with an ID token under the rotated key = %d, want 303:\n%s", resp.status, resp.body)
	}
}

// While the provider's key set is down, a token that needs it is not known
// to be bad: a logout token is 503 (the provider retries), a login shows
// "cannot be reached" — also for the requests inside the floor, which do
// not ask the provider again but repeat its last answer. Once the key set
// is back and the floor has passed, the provider's retry is accepted.
func TestProviderKeysDownWithinTheFloor(t *testing.T) {
	e := newEnv(t, withBackchannel)
	id := e.loginAs()
	e.configure(e.providerConfig(), withBackchannel) // a fresh handler: no keys fetched yet
	e.op.SetBehaviour(oidctestop.Behaviour{KeysDown: true})
	fetched := e.op.KeySetRequests()

	lt := e.op.NewLogoutToken(alice.Subject)
	for i := range forgedLogouts {
		if resp := e.sendLogout(lt); resp.status != http.StatusServiceUnavailable {
			t.Fatalf("logout %d with the key set down = %d %s, want 503", i, resp.status, resp.body)
		}
	}
	if got := e.op.KeySetRequests(); got-fetched != 1 {
		t.Errorf("%d logout tokens with the key set down: %d key set requests, want 1", forgedLogouts, got-fetched)
	}
	e.newBrowser()
	if resp := e.login("/"); resp.status != http.StatusBadGateway || !strings.Contains(resp.body, "cannot be reached") {
		t.Errorf("login with the key set down = %d, want 502 provider unavailable:\n%s", resp.status, resp.body)
	}
	if got := e.lastFailure(); got != "provider_unavailable" {
		t.Errorf("login with the key set down: reason %q, want provider_unavailable", got)
	}

	e.op.SetBehaviour(oidctestop.Behaviour{})
	if resp := e.sendLogout(lt); resp.status != http.StatusServiceUnavailable {
		t.Errorf("retry inside the floor of the failed fetch = %d %s, want 503", resp.status, resp.body)
	}
	e.clock.Advance(oidc.KeyRefetchFloor + 1)
	if resp := e.sendLogout(lt); resp.status != http.StatusOK {
		t.Errorf("retry past the floor with the key set back = %d %s, want 200", resp.status, resp.body)
	}
	if e.alive(id) {
		t.Error("the session is alive after the retried logout")
	}
}
