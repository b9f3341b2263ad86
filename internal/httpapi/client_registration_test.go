package httpapi_test

import (
	"context"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// registrationBackends are the main stores the client registration tests
// run on; store returns a fresh one's URL, which several instances of a
// test may open one after the other (a restart).
var registrationBackends = []struct {
	name  string
	store func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
}

// mobileClient is a first-party confidential app that gets refresh tokens
// with the password grant; declared in the config file (with secret) or
// registered at run time.
func mobileClient(secret string) client.Client {
	return client.Client{ID: "mobile", Type: client.Confidential, Secret: secret, FirstParty: true,
		GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken}, Scopes: []string{"orders"}}
}

// passwordGrantFor runs the password grant for alice as client mobile and
// returns the refresh token.
func passwordGrantFor(t *testing.T, g *testutil.Instance, secret string) string {
	t.Helper()
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword},
		"scope": {"orders"}}, "mobile", secret)
	rt, _ := m["refresh_token"].(string)
	if resp.StatusCode != 200 || rt == "" {
		t.Fatalf("password grant = %d error %v, want 200 with a refresh token", resp.StatusCode, m["error"])
	}
	return rt
}

// refreshAs refreshes rt as client mobile with secret and returns the
// status, the error and the new refresh token.
func refreshAs(t *testing.T, g *testutil.Instance, secret, rt string) (status int, oauthErr, next string) {
	t.Helper()
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "mobile", secret)
	oauthErr, _ = m["error"].(string)
	next, _ = m["refresh_token"].(string)
	return resp.StatusCode, oauthErr, next
}

// A refresh family belongs to the registration of its client_id that it
// was granted to, not to whoever holds that client_id later: a config
// client that a stored one replaced (the ID left the config file, then
// was registered), a stored client that a config one shadows, and a
// stored client deleted without its families being revoked (the deletion
// committed, then ending its tokens failed) and registered again each
// refuse the earlier registration's refresh tokens with invalid_grant.
// The same config client across a restart is the same registration and
// keeps refreshing. Before, families recorded only the client_id.
func TestRefreshFamilyBelongsToItsClientRegistration(t *testing.T) {
	for _, backend := range registrationBackends {
		t.Run(backend.name, func(t *testing.T) {
			store := backend.store(t)
			start := func(clients ...client.Client) *testutil.Instance {
				return testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
					c.Store = store
					c.Clients = clients
				}))
			}
			ctx := context.Background()

			// 1. A config client, across a restart with the same config.
			g := start(mobileClient(webSecret))
			g.CreateUser(t, "alice", strongPassword)
			rt := passwordGrantFor(t, g, webSecret)
			g.Stop()
			g = start(mobileClient(webSecret))
			status, oauthErr, next := refreshAs(t, g, webSecret, rt)
			if status != 200 || next == "" {
				t.Fatalf("config client's token after a restart with the same config = %d %s, want 200", status, oauthErr)
			}
			configRT := next
			g.Stop()

			// 2. The ID left the config file and was registered at run time.
			g = start()
			secret, err := g.App.Clients.Add(ctx, mobileClient(""))
			if err != nil {
				t.Fatalf("register mobile: %v", err)
			}
			if status, oauthErr, _ := refreshAs(t, g, secret, configRT); status != 400 || oauthErr != "invalid_grant" {
				t.Errorf("config client's token refreshed by the stored client that took its ID = %d %s, want 400 invalid_grant", status, oauthErr)
			}
			storedRT := passwordGrantFor(t, g, secret)

			// 3. Deleted in the store without its families revoked, then
			// registered again.
			if err := g.App.Store.DeleteClient(ctx, "mobile"); err != nil {
				t.Fatalf("DeleteClient: %v", err)
			}
			again, err := g.App.Clients.Add(ctx, mobileClient(""))
			if err != nil {
				t.Fatalf("register mobile again: %v", err)
			}
			if status, oauthErr, _ := refreshAs(t, g, again, storedRT); status != 400 || oauthErr != "invalid_grant" {
				t.Errorf("deleted client's token refreshed by the client registered again = %d %s, want 400 invalid_grant", status, oauthErr)
			}
			againRT := passwordGrantFor(t, g, again)
			if status, oauthErr, _ := refreshAs(t, g, again, againRT); status != 200 {
				t.Errorf("the new registration's own token = %d %s, want 200", status, oauthErr)
			}
			againRT = passwordGrantFor(t, g, again)
			g.Stop()

			// 4. A config client declared under the stored client's ID
			// shadows it.
			g = start(mobileClient(webSecret))
			if status, oauthErr, _ := refreshAs(t, g, webSecret, againRT); status != 400 || oauthErr != "invalid_grant" {
				t.Errorf("stored client's token refreshed by the config client that shadows it = %d %s, want 400 invalid_grant", status, oauthErr)
			}
		})
	}
}

// pauseCreateRefresh is an instance's real main store with one pause:
// once armed, the next family stored for a client runs meanwhile before
// it is written. That is an operator deleting the client, on this
// instance or another, while a code is redeemed (or a password grant
// runs) for it.
type pauseCreateRefresh struct {
	app.MainStore
	mu        sync.Mutex
	clientID  string
	meanwhile func()
}

func (p *pauseCreateRefresh) arm(clientID string, meanwhile func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clientID, p.meanwhile = clientID, meanwhile
}

func (p *pauseCreateRefresh) CreateRefresh(ctx context.Context, r token.Refresh) error {
	p.mu.Lock()
	var f func()
	if r.ClientID == p.clientID {
		f, p.meanwhile = p.meanwhile, nil
	}
	p.mu.Unlock()
	if f != nil {
		f()
	}
	return p.MainStore.CreateRefresh(ctx, r)
}

// A grant that is under way while its client is deleted (after the
// client was authenticated and the code redeemed, before the family is
// stored) and registered again under the same client_id stores no family
// and hands out no token: its family would have been missed by the
// deletion's revocation, and the new registration could have refreshed
// it. Before, the token endpoint answered 200 and the family refreshed
// for the new registration.
func TestGrantRacingItsClientsDeletionLeavesNoFamily(t *testing.T) {
	spa := client.Client{ID: "app", Type: client.Public, FirstParty: true, RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes: []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantPassword},
		Scopes:     []string{"openid", "offline_access"}}
	grants := []struct {
		name string
		// run runs the grant for alice as client app and returns the
		// token endpoint's answer.
		run func(t *testing.T, g *testutil.Instance) (int, map[string]any)
	}{
		{"authorization code", func(t *testing.T, g *testutil.Instance) (int, map[string]any) {
			const verifier = "0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
			code := codeFor(t, g, browser(t, g, "alice"), "app", "https://app.example.com/cb", verifier, "openid offline_access")
			form := exchangeForm(code, verifier, "https://app.example.com/cb")
			form.Set("client_id", "app")
			resp, m := tokenCall(t, g, form, "", "")
			return resp.StatusCode, m
		}},
		{"password grant", func(t *testing.T, g *testutil.Instance) (int, map[string]any) {
			resp, m := tokenCall(t, g, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {strongPassword},
				"scope": {"offline_access"}, "client_id": {"app"}}, "", "")
			return resp.StatusCode, m
		}},
	}
	for _, backend := range registrationBackends {
		for _, gr := range grants {
			t.Run(backend.name+"/"+gr.name, func(t *testing.T) {
				pause := &pauseCreateRefresh{}
				g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store = backend.store(t) }),
					testutil.WithStore(func(s app.MainStore) app.MainStore { pause.MainStore = s; return pause }))
				g.CreateUser(t, "alice", strongPassword)
				ctx := context.Background()
				if _, err := g.App.Clients.Add(ctx, spa); err != nil {
					t.Fatalf("register app: %v", err)
				}
				pause.arm("app", func() {
					if err := g.App.Clients.Delete(ctx, "app"); err != nil {
						t.Errorf("delete app meanwhile: %v", err)
					}
					if _, err := g.App.Clients.Add(ctx, spa); err != nil {
						t.Errorf("register app again meanwhile: %v", err)
					}
				})
				status, m := gr.run(t, g)
				if status != 400 || m["error"] != "invalid_grant" || m["access_token"] != nil {
					t.Errorf("grant racing the deletion = %d error %v (access token handed out: %t), want 400 invalid_grant and no token",
						status, m["error"], m["access_token"] != nil)
				}
				rt, _ := m["refresh_token"].(string)
				if rt == "" {
					return
				}
				resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"app"}}, "", "")
				if resp.StatusCode != 400 || m["error"] != "invalid_grant" {
					t.Errorf("its refresh token under the new registration = %d error %v, want 400 invalid_grant", resp.StatusCode, m["error"])
				}
			})
		}
	}
}
