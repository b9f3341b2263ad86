package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// pauseInPasswordChange is an instance's real main store with one pause in
// a password change: once armed, either just after the password check's
// read of the user by name ("check"), or when the change, having ended the
// user's sessions, goes on to end the refresh families ("revocation"),
// meanwhile runs before the store call goes on.
type pauseInPasswordChange struct {
	app.MainStore
	mu        sync.Mutex
	at, key   string
	meanwhile func()
}

func (p *pauseInPasswordChange) arm(at, key string, meanwhile func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at, p.key, p.meanwhile = at, key, meanwhile
}

func (p *pauseInPasswordChange) take(at, key string) {
	p.mu.Lock()
	var f func()
	if p.at == at && p.key == key {
		f, p.meanwhile, p.at = p.meanwhile, nil, ""
	}
	p.mu.Unlock()
	if f != nil {
		f()
	}
}

func (p *pauseInPasswordChange) UserByName(ctx context.Context, name string) (auth.User, error) {
	u, err := p.MainStore.UserByName(ctx, name)
	p.take("check", name)
	return u, err
}

func (p *pauseInPasswordChange) RevokeUserFamilies(ctx context.Context, userID string, now time.Time) ([]token.Family, error) {
	p.take("revocation", userID)
	return p.MainStore.RevokeUserFamilies(ctx, userID, now)
}

// A password change (POST /auth/password) ends every session of the user
// and gives the caller a successor of its own session, which keeps the
// session's login (its amr, mfa included). An operator's logout
// everywhere, disable or delete that lands while the change is under way
// (after the password check read the user, or after the change ended the
// sessions) must end the caller too: the successor is not left behind,
// and the caller is answered as signed out (401). Before, the successor
// was written after the command had ended every session and lived on.
func TestPasswordChangeRacingUserRevocationLeavesNoSession(t *testing.T) {
	revocations := []struct {
		name   string
		revoke func(ctx context.Context, users *user.Service, name string) error
	}{
		{"logout everywhere", func(ctx context.Context, users *user.Service, name string) error {
			_, err := users.LogoutEverywhere(ctx, name, "cli")
			return err
		}},
		{"disable", func(ctx context.Context, users *user.Service, name string) error {
			_, err := users.SetDisabled(ctx, name, true)
			return err
		}},
		{"delete", func(ctx context.Context, users *user.Service, name string) error {
			return users.Delete(ctx, name)
		}},
	}
	for _, backend := range []string{"sqlite", "postgres+redis"} {
		t.Run(backend, func(t *testing.T) {
			pause := &pauseInPasswordChange{}
			g, op, _ := raceInstancesOver(t, backend, func(s app.MainStore) app.MainStore { pause.MainStore = s; return pause })
			for _, at := range []string{"check", "revocation"} {
				for _, rv := range revocations {
					t.Run(rv.name+" at the "+at, func(t *testing.T) {
						name := "alice-" + user.NewID()[:8]
						u := g.CreateUser(t, name, strongPassword)
						c := signedIn(t, g, name)
						key := name
						if at == "revocation" {
							key = u.ID
						}
						pause.arm(at, key, func() {
							if err := rv.revoke(context.WithoutCancel(t.Context()), op.App.Users, name); err != nil {
								t.Errorf("%s: %v", rv.name, err)
							}
						})
						resp, body := postJSON(t, c, g.URL+"/auth/password", map[string]string{"current_password": strongPassword, "new_password": "a new passphrase after the race"})
						if resp.StatusCode != 401 {
							t.Errorf("password change racing %s = %d %s, want 401", rv.name, resp.StatusCode, body)
						}
						if holdsSession(t, g, c) {
							t.Errorf("the caller still holds a session")
						}
						if recs, err := op.App.Sessions.List(t.Context(), u.ID); err != nil || len(recs) != 0 {
							t.Errorf("sessions of the user after the race = %d (err %v), want none", len(recs), err)
						}
					})
				}
			}
		})
	}
}
