package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// After a key rotation on instance A, instance B learns of the new key from
// the revocation feed's "keys" event or its periodic reload. Until then a
// token A signs with the new key must still work on B: B reloads its keys
// once when it meets an unknown kid. The rotation here is made by a third
// key set over the shared store, which publishes no "keys" event: B's feed
// never tells it (the feed being slow, at worst).
func TestOtherInstanceAcceptsTokensOfANewKeyBeforeTheFeedSaysSo(t *testing.T) {
	for _, tt := range []struct {
		name string
		// onB does something with access token at on instance B and
		// returns the status of GET /auth/userinfo on B afterwards.
		onB  func(t *testing.T, b *testutil.Instance, at string) int
		want int
	}{
		{"verify", func(t *testing.T, b *testutil.Instance, at string) int {
			return userinfoStatus(t, b, at)
		}, http.StatusOK},
		{"revoke", func(t *testing.T, b *testutil.Instance, at string) int {
			resp, body := do(t, testutil.Client(t), "POST", b.URL+"/auth/revoke",
				url.Values{"token": {at}, "token_type_hint": {"access_token"}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke on B = %d %s", resp.StatusCode, body)
			}
			// B knows the key from here on whatever happened above: the
			// token is refused only if the revocation took effect.
			if err := b.App.Keys.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			return userinfoStatus(t, b, at)
		}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// One deployment: the same store and public_url (the issuer).
			const public = "https://auth.example.test"
			a := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.PublicURL = public }))
			b := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store, c.PublicURL = a.Config.Store, public }))
			a.CreateUser(t, "alice", strongPassword)

			rotator, err := keys.NewSet(t.Context(), a.App.Store, a.Config.Tokens.Algorithm)
			if err != nil {
				t.Fatal(err)
			}
			kid, err := rotator.Rotate(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := a.App.Keys.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			at, _ := passwordGrant(t, a, "alice", strongPassword)["access_token"].(string)
			if got := jwtPart(t, at, 0)["kid"]; got != kid {
				t.Fatalf("A signed with kid %v, want the new key %s", got, kid)
			}
			if got := tt.onB(t, b, at); got != tt.want {
				t.Errorf("GET /auth/userinfo on B = %d, want %d", got, tt.want)
			}
		})
	}
}
