package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// A user has at most mfa.MaxPasskeys passkeys: a registration past it is
// refused with 409 and a description saying what to do, when it begins
// and when it finishes (two ceremonies begun at 19 cannot both make 20),
// and /account says so instead of offering the registration.
func TestPasskeysCappedPerUser(t *testing.T) {
	eachStore(t, func(t *testing.T, g *testutil.Instance) {
		alice := g.CreateUser(t, "alice", strongPassword)
		g.CreateUser(t, "bob", strongPassword)
		// Two sessions, signed in before alice has a second factor.
		c, c2 := signedIn(t, g, "alice"), signedIn(t, g, "alice")
		bob := signedIn(t, g, "bob")
		for i := range mfa.MaxPasskeys - 1 {
			registerPasskey(t, g, c, securityKey(), "key "+string(rune('a'+i)))
		}
		// Two ceremonies begun with one place left, on two sessions.
		opts := map[*http.Client]string{}
		for _, cl := range []*http.Client{c, c2} {
			resp, body := postJSON(t, cl, g.URL+"/auth/webauthn/register/begin", map[string]any{})
			if resp.StatusCode != 200 {
				t.Fatalf("register/begin with one place left = %d %s", resp.StatusCode, body)
			}
			opts[cl] = body
		}
		finish := func(cl *http.Client) (*http.Response, string) {
			cred, _ := securityKey().Create(t, []byte(opts[cl]))
			return postJSON(t, cl, g.URL+"/auth/webauthn/register/finish", map[string]any{"name": "one more", "credential": cred})
		}
		if resp, body := finish(c); resp.StatusCode != 201 {
			t.Fatalf("register/finish into the last place = %d %s", resp.StatusCode, body)
		}
		refused := func(what string, resp *http.Response, body string) {
			t.Helper()
			m := decode(t, body)
			if resp.StatusCode != http.StatusConflict || m["error"] != "conflict" || m["error_description"] != "at most 20 passkeys; remove one first" {
				t.Errorf("%s past %d passkeys = %d %s, want 409 conflict with a description", what, mfa.MaxPasskeys, resp.StatusCode, body)
			}
		}
		resp, body := finish(c2)
		refused("register/finish", resp, body)
		resp, body = postJSON(t, c, g.URL+"/auth/webauthn/register/begin", map[string]any{})
		refused("register/begin", resp, body)
		if cs, err := g.App.Store.Credentials(t.Context(), alice.ID); err != nil || len(cs) != mfa.MaxPasskeys {
			t.Fatalf("stored passkeys = %d (%v), want %d", len(cs), err, mfa.MaxPasskeys)
		}

		_, page := do(t, c, "GET", g.URL+"/account", "")
		if !strings.Contains(page, "You have 20 passkeys, the most an account can have. Remove one to add another.") ||
			strings.Contains(page, "data-passkey-register") {
			t.Errorf("/account with %d passkeys offers a registration or does not say why not:\n%s", mfa.MaxPasskeys, page)
		}
		// Another user's count is their own.
		registerPasskey(t, g, bob, securityKey(), "bob's key")
	})
}
