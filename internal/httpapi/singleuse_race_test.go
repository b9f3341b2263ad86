package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// racers is how many token requests the single-use races send at once.
const racers = 16

// startAppsOn runs startApps on store: "sqlite", "postgres" (direct) or
// "pgbouncer" (PostgreSQL through PgBouncer in transaction pooling,
// migrated over the direct connection first, as a deployment behind
// PgBouncer runs `gatehouse migrate` before serving).
func startAppsOn(t *testing.T, store string) *testutil.Instance {
	t.Helper()
	dsn := ""
	switch store {
	case "postgres":
		dsn = pgtest.DSN(t)
	case "pgbouncer":
		pooled, direct := pgtest.BouncerDSN(t)
		migrated := testutil.Start(t, testutil.WithConfig(func(c *config.Config) { c.Store = direct }))
		migrated.Stop()
		dsn = pooled
	}
	g := startApps(t, testutil.WithConfig(func(c *config.Config) {
		if dsn != "" {
			c.Store = dsn
		}
	}))
	g.CreateUser(t, "alice", strongPassword)
	return g
}

// tokenRace sends form to the token endpoint from racers goroutines
// released at once, as client other, and returns the answers.
func tokenRace(t *testing.T, g *testutil.Instance, form url.Values) (statuses []int, bodies []map[string]any) {
	t.Helper()
	statuses, bodies = make([]int, racers), make([]map[string]any, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", g.URL+"/auth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("other", otherSec)
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i], bodies[i] = resp.StatusCode, decode(t, testutil.ReadBody(t, resp))
		})
	}
	close(start)
	wg.Wait()
	return statuses, bodies
}

// winners runs tokenRace, checks that every answer is 200 or 400
// invalid_grant and returns the successful ones.
func winners(t *testing.T, g *testutil.Instance, form url.Values) []map[string]any {
	t.Helper()
	statuses, bodies := tokenRace(t, g, form)
	var won []map[string]any
	for i, st := range statuses {
		switch {
		case st == http.StatusOK:
			won = append(won, bodies[i])
		case st == http.StatusBadRequest && bodies[i]["error"] == "invalid_grant":
		default:
			t.Errorf("racing token request = %d %v, want 200 or 400 invalid_grant", st, bodies[i]["error"])
		}
	}
	return won
}

// assertGrantDead checks that the tokens of a successful answer no longer
// work: the access token is refused at userinfo and the refresh token is
// invalid_grant.
func assertGrantDead(t *testing.T, g *testutil.Instance, tokens map[string]any) {
	t.Helper()
	if st := userinfoStatus(t, g, tokens["access_token"].(string)); st != http.StatusUnauthorized {
		t.Errorf("access token of the race's winner = %d at userinfo, want 401 (its grant was replayed)", st)
	}
	rt, _ := tokens["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("winner got no refresh token (scope %v)", tokens["scope"])
	}
	resp, m := tokenCall(t, g, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "other", otherSec)
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh token of the race's winner = %d %v, want 400 invalid_grant", resp.StatusCode, m["error"])
	}
}

// One authorization code sent to the token endpoint many times at once,
// through the real handler on every SQL store: at most one request gets
// tokens, every other is invalid_grant, and because the others are second
// uses of the code, whatever the code gave is revoked (contract §8, RFC
// 6749 §4.1.2): the winner's access and refresh tokens stop working. A
// refresh token sent many times at once: exactly one request succeeds
// (contract §4: no grace window), the others are reuse, so the family dies
// with the winner's new tokens (docs/tokens.md).
func TestSingleUseGrantsRacedThroughTheTokenEndpoint(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres", "pgbouncer"} {
		t.Run(store, func(t *testing.T) {
			g := startAppsOn(t, store)
			b := browser(t, g, "alice")
			v := oauth2.GenerateVerifier()

			t.Run("AuthorizationCode", func(t *testing.T) {
				code := codeFor(t, g, b, "other", webCB, v, "openid offline_access")
				won := winners(t, g, exchangeForm(code, v, webCB))
				if len(won) > 1 {
					t.Fatalf("%d of %d concurrent exchanges of one code got tokens, want at most 1", len(won), racers)
				}
				for _, w := range won {
					assertGrantDead(t, g, w)
				}
			})

			t.Run("RefreshToken", func(t *testing.T) {
				code := codeFor(t, g, b, "other", webCB, v, "openid offline_access")
				resp, first := tokenCall(t, g, exchangeForm(code, v, webCB), "other", otherSec)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("exchange = %d %v", resp.StatusCode, first)
				}
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}
				won := winners(t, g, form)
				if len(won) != 1 {
					t.Fatalf("%d of %d concurrent refreshes with one token succeeded, want exactly 1", len(won), racers)
				}
				assertGrantDead(t, g, won[0])
			})
		})
	}
}
