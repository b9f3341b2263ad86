package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc/oidctestop"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// pauseAfterRead is an instance's real main store with one pause: once
// armed, the next read of the user by ID (a login step's last read of the
// account before its write: after a password's hash, the pending login's
// or the passkey's user, the provider's linked user) runs meanwhile before
// it returns. That is
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
// Both have a second factor's key, a settable clock, the passkey tests'
// public_url and the test OpenID provider op as "corp".
func raceInstances(t *testing.T, backend string) (login *testutil.Instance, pause *pauseAfterRead, operator *testutil.Instance, op *oidctestop.Provider) {
	t.Helper()
	pause = &pauseAfterRead{}
	login, operator, op = raceInstancesOver(t, backend, func(s app.MainStore) app.MainStore { pause.MainStore = s; return pause })
	return login, pause, operator, op
}

// raceInstancesOver is raceInstances with the login instance's main store
// wrapped by wrap (a pause of the test's own).
func raceInstancesOver(t *testing.T, backend string, wrapStore func(app.MainStore) app.MainStore) (login, operator *testutil.Instance, op *oidctestop.Provider) {
	t.Helper()
	op = oidctestop.Start(t)
	wrap := testutil.WithStore(wrapStore)
	dsn, redisURL, prefix := "", "", ""
	if backend != "sqlite" {
		dsn = pgtest.DSN(t)
		redisURL, prefix = redistest.New(t)
	}
	shared := []testutil.Option{testutil.WithClock(testutil.NewClock()), testutil.WithConfig(func(c *config.Config) {
		c.Keys.EncryptionKey = encryptionKey
		c.PublicURL = passkeyOrigin
		c.OIDC.Providers = []config.Provider{{Name: "corp", Issuer: op.Issuer(), ClientID: op.ClientID(),
			ClientSecret: op.ClientSecret(), Scopes: []string{"openid", "email", "profile"}}}
		if dsn != "" {
			c.Store = dsn
			c.Redis.URL, c.Redis.KeyPrefix = redisURL, prefix
			c.Sessions.Store = "redis"
		}
	})}
	login = testutil.Start(t, append(shared, wrap)...)
	op.AddRedirectURI(passkeyOrigin + "/auth/oidc/corp/callback")
	if backend == "sqlite" {
		return login, login, op
	}
	return login, testutil.Start(t, shared...), op
}

// raceLogin is one login of the user name on g whose last read of the
// account before it writes the credential is the one arm pauses: the
// login calls arm just before the step that makes that read.
type raceLogin struct {
	g    *testutil.Instance
	op   *oidctestop.Provider
	name string
	arm  func()
}

// holdsSession reports whether browser c holds a live session on g.
func holdsSession(t *testing.T, g *testutil.Instance, c *http.Client) bool {
	t.Helper()
	resp, _ := do(t, c, "GET", g.URL+"/auth/session", "")
	return resp.StatusCode == 200
}

// An operator's disable, delete or logout everywhere that lands while a
// login is under way (a password, the second step, a passkey, a "Sign in
// with" callback; after the step's read of the account, before it writes
// the session or refresh family) ends that login too: it is
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
		login func(t *testing.T, l raceLogin) (refused bool, accessToken string)
	}{
		{"session login", func(t *testing.T, l raceLogin) (bool, string) {
			l.arm()
			resp, body := loginJSON(t, testutil.Client(t), l.g.URL, l.name, strongPassword)
			if resp.StatusCode != 401 {
				t.Logf("login = %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode == 401, ""
		}},
		{"password grant", func(t *testing.T, l raceLogin) (bool, string) {
			l.arm()
			form := url.Values{"grant_type": {"password"}, "username": {l.name}, "password": {strongPassword}}
			resp, body := do(t, testutil.Client(t), "POST", l.g.URL+"/auth/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
			m := decode(t, body)
			if resp.StatusCode != 400 {
				t.Logf("password grant = %d %s", resp.StatusCode, body)
			}
			tok, _ := m["access_token"].(string)
			return resp.StatusCode == 400 && m["error"] == "invalid_grant", tok
		}},
		{"second factor", func(t *testing.T, l raceLogin) (bool, string) {
			secret := enrolTOTP(t, l.g, l.name) // its session is the revocation's to end
			c := testutil.Client(t)
			if resp, body := loginJSON(t, c, l.g.URL, l.name, strongPassword); resp.StatusCode != 200 || decode(t, body)["mfa_required"] != true {
				t.Fatalf("password step = %d %s, want mfa_required", resp.StatusCode, body)
			}
			l.arm() // the second step reads the pending login's user
			resp, body := postJSON(t, c, l.g.URL+"/auth/login/mfa", map[string]string{"method": "totp", "code": mfatest.TOTPCode(t, secret, l.g.Clock.Now())})
			if resp.StatusCode != 401 {
				t.Logf("second step = %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode == 401 && !holdsSession(t, l.g, c), ""
		}},
		{"passkey", func(t *testing.T, l raceLogin) (bool, string) {
			a := securityKey()
			key := registerPasskey(t, l.g, signedIn(t, l.g, l.name), a, "key") // that session is the revocation's to end
			c := testutil.Client(t)
			opts := passkeyBegin(t, l.g, c, nil)
			l.arm() // the passwordless finish reads the passkey's user
			resp, body := passkeyFinish(t, l.g, c, a.Get(t, opts, key))
			if resp.StatusCode != 401 {
				t.Logf("passkey finish = %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode == 401 && !holdsSession(t, l.g, c), ""
		}},
		{"oidc callback", func(t *testing.T, l raceLogin) (bool, string) {
			u, err := l.g.App.Users.Get(t.Context(), l.name)
			if err != nil {
				t.Fatal(err)
			}
			sub := "sub-" + l.name
			if err := l.g.App.Users.Link(t.Context(), user.Identity{Issuer: l.op.Issuer(), Subject: sub, Provider: "corp"}, u); err != nil {
				t.Fatal(err)
			}
			l.op.SetUser(oidctestop.User{Subject: sub, PreferredUsername: l.name})
			l.arm() // the callback reads the linked user
			c := testutil.Client(t)
			resp, body := oidcLogin(t, l.g, c, "/")
			if resp.StatusCode != 403 {
				t.Logf("callback = %d %s", resp.StatusCode, body)
			}
			return resp.StatusCode == 403 && !holdsSession(t, l.g, c), ""
		}},
	}
	for _, backend := range []string{"sqlite", "postgres+redis"} {
		t.Run(backend, func(t *testing.T) {
			g, pause, op, provider := raceInstances(t, backend)
			for _, lg := range logins {
				for _, rv := range revocations {
					t.Run(lg.name+" racing "+rv.name, func(t *testing.T) {
						name := "alice-" + user.NewID()[:8]
						u := g.CreateUser(t, name, strongPassword)
						arm := func() {
							pause.arm(u.ID, func() {
								if err := rv.revoke(context.WithoutCancel(t.Context()), op.App.Users, name); err != nil {
									t.Errorf("%s: %v", rv.name, err)
								}
							})
						}
						refused, tok := lg.login(t, raceLogin{g: g, op: provider, name: name, arm: arm})
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
