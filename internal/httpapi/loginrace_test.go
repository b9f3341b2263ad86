package httpapi_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// pauseAfterRead is an instance's real main store with one pause: once
// armed, the next read of the user by ID (a password login's last read of
// the account, after the hash) runs meanwhile before it returns. That is
// what an operator does, on this instance or another, while the login goes
// on to write its session or refresh family.
type pauseAfterRead struct {
	app.MainStore
	mu        sync.Mutex
	id        string
	meanwhile func()
}

func (p *pauseAfterRead) arm(id string, meanwhile func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.id, p.meanwhile = id, meanwhile
}

func (p *pauseAfterRead) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := p.MainStore.UserByID(ctx, id)
	p.mu.Lock()
	var f func()
	if id == p.id {
		f, p.meanwhile = p.meanwhile, nil
	}
	p.mu.Unlock()
	if f != nil {
		f()
	}
	return u, err
}

// raceInstances returns the instance whose logins pause (login), its
// pause, and the instance the operator's command runs on: the same one on
// SQLite, another one on PostgreSQL with Redis sessions (shared stores).
func raceInstances(t *testing.T, backend string) (login *testutil.Instance, pause *pauseAfterRead, operator *testutil.Instance) {
	t.Helper()
	pause = &pauseAfterRead{}
	wrap := testutil.WithStore(func(s app.MainStore) app.MainStore { pause.MainStore = s; return pause })
	if backend == "sqlite" {
		g := testutil.Start(t, wrap)
		return g, pause, g
	}
	dsn := pgtest.DSN(t)
	redisURL, prefix := redistest.New(t)
	shared := testutil.WithConfig(func(c *config.Config) {
		c.Store = dsn
		c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
		c.Sessions.Store = "redis"
	})
	return testutil.Start(t, shared, wrap), pause, testutil.Start(t, shared)
}

// An operator's disable, delete or logout everywhere that lands while a
// password login is under way (after its last read of the account, before
// it writes the session or refresh family) ends that login too: it is
// refused as a disabled user's is, and leaves no session, no refresh
// family and no access token behind. Before, the credential was written
// after the command had ended all the user's credentials, and lived on: a
// session (logout everywhere; a disabled user's came back on enable) or a
// family whose first access token was valid for tokens.access_ttl.
func TestLoginRacingUserRevocationLeavesNoCredential(t *testing.T) {
	revocations := []struct {
		name   string
		revoke func(ctx context.Context, users *user.Service, name string) error
	}{
		{"disable", func(ctx context.Context, users *user.Service, name string) error {
			_, err := users.SetDisabled(ctx, name, true)
			return err
		}},
		{"delete", func(ctx context.Context, users *user.Service, name string) error {
			return users.Delete(ctx, name)
		}},
		{"logout everywhere", func(ctx context.Context, users *user.Service, name string) error {
			_, err := users.LogoutEverywhere(ctx, name, "cli")
			return err
		}},
	}
	logins := []struct {
		name string
		// login logs name in and returns whether it was refused as bad
		// credentials are, and the access token it handed out, if any.
		login func(t *testing.T, g *testutil.Instance, name string) (refused bool, accessToken string)
	}{
		{"session login", func(t *testing.T, g *testutil.Instance, name string) (bool, string) {
			resp, body := loginJSON(t, testutil.Client(t), g.URL, name, strongPassword)
			if resp.StatusCode != 401 {
				t.Logf("login = %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode == 401, ""
		}},
		{"password grant", func(t *testing.T, g *testutil.Instance, name string) (bool, string) {
			form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {strongPassword}}
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			m := decode(t, body)
			if resp.StatusCode != 400 {
				t.Logf("password grant = %d %s", resp.StatusCode, body)
			}
			tok, _ := m["access_token"].(string)
			return resp.StatusCode == 400 && m["error"] == "invalid_grant", tok
		}},
	}
	for _, backend := range []string{"sqlite", "postgres+redis"} {
		t.Run(backend, func(t *testing.T) {
			g, pause, op := raceInstances(t, backend)
			for _, lg := range logins {
				for _, rv := range revocations {
					t.Run(lg.name+" racing "+rv.name, func(t *testing.T) {
						name := "alice-" + user.NewID()[:8]
						u := g.CreateUser(t, name, strongPassword)
						pause.arm(u.ID, func() {
							if err := rv.revoke(context.WithoutCancel(t.Context()), op.App.Users, name); err != nil {
								t.Errorf("%s: %v", rv.name, err)
							}
						})
						refused, tok := lg.login(t, g, name)
						if !refused {
							t.Errorf("the login was not refused as a disabled user's is")
						}
						ctx := t.Context()
						if recs, err := op.App.Sessions.List(ctx, u.ID); err != nil || len(recs) != 0 {
							t.Errorf("sessions of the user after the race = %d (err %v), want none", len(recs), err)
						}
						fams, err := op.App.Grants.Families(ctx, u.ID)
						if err != nil {
							t.Fatal(err)
						}
						for _, f := range fams {
							if f.RevokedAt.IsZero() {
								t.Errorf("refresh family %s of the user is live after the race", f.ID)
							}
						}
						if tok != "" {
							if _, err := op.App.Verifier.Verify(ctx, tok); err == nil {
								t.Errorf("the access token the login handed out is accepted")
							}
						}
					})
				}
			}
		})
	}
}
