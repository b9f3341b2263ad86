package httpapi_test

import (
	"context"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/testutil/clocktest"
)

// lonePair is two instances, a and b, on one store (and Redis, when
// given), with a token route /api/ on b; cc is a stored confidential
// client of the client_credentials grant, secret its secret.
type lonePair struct {
	a, b   *testutil.Instance
	clock  *testutil.Clock
	secret string
}

func startLonePair(t *testing.T, store string, redis bool) lonePair {
	t.Helper()
	up := newUpstream(t)
	redisURL, prefix := "", ""
	if redis {
		redisURL, prefix = redistest.New(t)
	}
	clock := testutil.NewClock()
	shared := func(c *config.Config) {
		c.Store = store
		c.PublicURL = "https://auth.example.test" // one issuer for both
		c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
		c.Routes = []config.Route{{Name: "api", Match: config.RouteMatch{PathPrefix: "/api/"}, Upstream: up.URL,
			Auth: "token", Timeout: config.Duration(5 * time.Second)}}
	}
	a := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
	b := testutil.Start(t, testutil.WithClock(clock), testutil.WithConfig(shared))
	secret, err := a.App.Clients.Add(context.Background(), client.Client{ID: "svc", Type: client.Confidential,
		GrantTypes: []string{client.GrantClientCredentials}, Roles: []string{"svc"}})
	if err != nil {
		t.Fatalf("add client: %v", err)
	}
	return lonePair{a: a, b: b, clock: clock, secret: secret}
}

// cliToken is what `gatehouse token issue --user NAME --ttl TTL` prints.
func (p lonePair) cliToken(t *testing.T, name string, ttl time.Duration) string {
	t.Helper()
	u, err := p.a.App.Users.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.a.App.Grants.IssueAccess(context.Background(), u, client.CLIID, ttl, "cli")
	if err != nil {
		t.Fatalf("issue token: %v", err)
	}
	return raw
}

// clientToken runs the client_credentials grant of svc on instance a.
func (p lonePair) clientToken(t *testing.T, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}}
	resp, body := do(t, testutil.Client(t), "POST", p.a.URL+"/auth/token", form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 {
		t.Fatalf("client_credentials = %d %s", resp.StatusCode, body)
	}
	return decode(t, body)["access_token"].(string)
}

// status is the gateway's answer on b to a request with bearer token tok.
func (p lonePair) status(t *testing.T, tok string) int {
	t.Helper()
	resp, _ := do(t, testutil.Client(t), "GET", p.b.URL+"/api/orders", "", "Authorization", "Bearer "+tok)
	return resp.StatusCode
}

// refusedOnB waits until b's gateway refuses tok (the revocation reached
// b through the feed).
func (p lonePair) refusedOnB(t *testing.T, what, tok string) {
	t.Helper()
	clocktest.Eventually(t, what+" is refused by the other instance's gateway", func() bool { return p.status(t, tok) == 401 })
}

// loneBackends are the stores and revocation feeds the tests run on: the
// SQL feed (SQLite) and the Redis feed (PostgreSQL + Redis).
func loneBackends(t *testing.T) map[string]func(t *testing.T) lonePair {
	return map[string]func(t *testing.T) lonePair{
		"SQLite": func(t *testing.T) lonePair {
			return startLonePair(t, "sqlite://"+filepath.Join(t.TempDir(), "shared.db"), false)
		},
		"PostgresRedis": func(t *testing.T) lonePair { return startLonePair(t, pgtest.DSN(t), true) },
	}
}

// A token of `gatehouse token issue` has no refresh token, and still
// `user disable` on one instance stops it on every instance at once, for
// as long as it would have lived (here a day, far past access_ttl), as
// it stops the user's other tokens.
func TestUserDisableStopsCLIToken(t *testing.T) {
	for name, start := range loneBackends(t) {
		t.Run(name, func(t *testing.T) {
			p := start(t)
			p.a.CreateUser(t, "alice", strongPassword, "user")
			p.a.CreateUser(t, "bob", strongPassword, "user")
			alice, bob := p.cliToken(t, "alice", 24*time.Hour), p.cliToken(t, "bob", 24*time.Hour)
			for _, tok := range []string{alice, bob} {
				if got := p.status(t, tok); got != 200 {
					t.Fatalf("CLI token before disable = %d, want 200", got)
				}
			}
			if _, err := p.a.App.Users.SetDisabled(context.Background(), "alice", true); err != nil {
				t.Fatalf("disable: %v", err)
			}
			p.refusedOnB(t, "alice's CLI token", alice)
			// The denial outlives access_ttl + leeway: it lasts as long as
			// the token.
			p.clock.Advance(p.a.Config.Tokens.AccessTTL.D() + p.a.Config.Tokens.Leeway.D() + time.Hour)
			if got := p.status(t, alice); got != 401 {
				t.Fatalf("alice's CLI token an hour past access_ttl = %d, want 401", got)
			}
			if got := p.status(t, bob); got != 200 {
				t.Fatalf("bob's CLI token = %d, want 200 (only alice was disabled)", got)
			}
		})
	}
}

// A client_credentials token stops on every instance when the client's
// secret changes (the new secret's token goes on) and when the client is
// deleted.
func TestClientDeletionAndNewSecretStopClientTokens(t *testing.T) {
	for name, start := range loneBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p := start(t)
			old := p.clientToken(t, p.secret)
			if got := p.status(t, old); got != 200 {
				t.Fatalf("client token before rotation = %d, want 200", got)
			}
			secret, err := p.a.App.Clients.RotateSecret(ctx, "svc")
			if err != nil {
				t.Fatalf("rotate secret: %v", err)
			}
			p.refusedOnB(t, "the old secret's client token", old)
			fresh := p.clientToken(t, secret)
			if got := p.status(t, fresh); got != 200 {
				t.Fatalf("the new secret's client token = %d, want 200", got)
			}
			if err := p.a.App.Clients.Delete(ctx, "svc"); err != nil {
				t.Fatalf("delete client: %v", err)
			}
			p.refusedOnB(t, "the deleted client's token", fresh)
		})
	}
}
