package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/mfa/mfatest"
	"github.com/gatehouse-auth/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Each audit event kind of contract §6, raised by its action against a real
// gatehouse, is stored and logged (one case per way of raising it).
func TestAuditEventPerKind(t *testing.T) {
	var otherSession string // the session "session revoked: one" revokes
	tests := []struct {
		name string
		kind string
		// start runs the instance; nil: testutil.Start with alice.
		start func(t *testing.T) *testutil.Instance
		act   func(t *testing.T, g *testutil.Instance)
		// want checks the stored event; nil: any event of kind.
		want func(e audit.Event) bool
	}{
		{name: "login ok", kind: audit.LoginOK, act: func(t *testing.T, g *testutil.Instance) {
			loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword)
		}},
		{name: "login failed", kind: audit.LoginFailed, act: func(t *testing.T, g *testutil.Instance) {
			loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!")
		}},
		{name: "login throttled: password", kind: audit.LoginThrottled,
			start: func(t *testing.T) *testutil.Instance {
				return startAlice(t, func(c *config.Config) { c.Login.MaxFailures = 1 })
			},
			act: func(t *testing.T, g *testutil.Instance) {
				loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!")
				if resp, _ := loginJSON(t, testutil.Client(t), g.URL, "alice", strongPassword); resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("login after max_failures = %d, want 429", resp.StatusCode)
				}
			}},
		{name: "login throttled: second factor code", kind: audit.LoginThrottled,
			start: func(t *testing.T) *testutil.Instance {
				g := mfaInstance(t, func(c *config.Config) { c.Login.MaxFailures = 2 })
				g.CreateUser(t, "alice", strongPassword)
				return g
			},
			act: func(t *testing.T, g *testutil.Instance) {
				secret := enrolTOTP(t, g, "alice")
				c, _ := pendingLogin(t, g, "alice")
				wrong := wrongCode(mfatest.TOTPCode(t, secret, g.Clock.Now()))
				for range 2 {
					postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": wrong})
				}
				if resp, body := postJSON(t, c, g.URL+"/auth/login/mfa", map[string]string{"code": wrong}); resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("code after max_failures = %d %s, want 429", resp.StatusCode, body)
				}
			},
			want: func(e audit.Event) bool {
				return e.Username == "alice" && e.UserID != "" && e.Details["method"] == "totp" && e.Details["enrolment"] == ""
			}},
		{name: "login throttled: TOTP confirmation code", kind: audit.LoginThrottled,
			start: func(t *testing.T) *testutil.Instance {
				g := mfaInstance(t, func(c *config.Config) { c.Login.MaxFailures = 1 })
				g.CreateUser(t, "alice", strongPassword)
				return g
			},
			act: func(t *testing.T, g *testutil.Instance) {
				c := signedIn(t, g, "alice")
				resp, body := do(t, c, "POST", g.URL+"/auth/mfa/totp", "", "Content-Type", "application/json")
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("POST /auth/mfa/totp = %d %s", resp.StatusCode, body)
				}
				wrong := wrongCode(mfatest.TOTPCode(t, decode(t, body)["secret"].(string), g.Clock.Now()))
				postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": wrong})
				if resp, body := postJSON(t, c, g.URL+"/auth/mfa/totp/confirm", map[string]string{"code": wrong}); resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("confirmation after max_failures = %d %s, want 429", resp.StatusCode, body)
				}
			},
			// enrolment=true tells it from a login's second step.
			want: func(e audit.Event) bool {
				return e.Username == "alice" && e.UserID != "" && e.Details["method"] == "totp" && e.Details["enrolment"] == "true"
			}},
		{name: "logout", kind: audit.Logout, act: func(t *testing.T, g *testutil.Instance) {
			c := browser(t, g, "alice")
			do(t, c, "POST", g.URL+"/auth/logout", "")
		}},
		{name: "session revoked: others", kind: audit.SessionRevoked, act: func(t *testing.T, g *testutil.Instance) {
			browser(t, g, "alice") // the session revoked
			c := browser(t, g, "alice")
			if resp, body := do(t, c, "DELETE", g.URL+"/auth/sessions", ""); resp.StatusCode >= 300 {
				t.Fatalf("DELETE /auth/sessions = %d %s", resp.StatusCode, body)
			}
		}, want: func(e audit.Event) bool { return e.Username == "alice" && e.Details["sessions"] == "others" }},
		{name: "session revoked: one", kind: audit.SessionRevoked, act: func(t *testing.T, g *testutil.Instance) {
			browser(t, g, "alice") // the session revoked
			c := browser(t, g, "alice")
			_, body := do(t, c, "GET", g.URL+"/auth/sessions", "")
			for _, v := range decode(t, body)["sessions"].([]any) {
				if sj := v.(map[string]any); sj["current"] != true {
					otherSession = sj["id"].(string)
				}
			}
			if resp, body := do(t, c, "DELETE", g.URL+"/auth/sessions/"+otherSession, ""); resp.StatusCode >= 300 {
				t.Fatalf("DELETE /auth/sessions/{id} = %d %s", resp.StatusCode, body)
			}
		}, want: func(e audit.Event) bool { return e.Username == "alice" && e.Details["session"] == otherSession }},
		{name: "token issued: password grant", kind: audit.TokenIssued, act: func(t *testing.T, g *testutil.Instance) {
			passwordGrant(t, g, "alice", strongPassword)
		}},
		{name: "token issued: client credentials", kind: audit.TokenIssued,
			start: func(t *testing.T) *testutil.Instance { return startApps(t) },
			act: func(t *testing.T, g *testutil.Instance) {
				cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: g.URL + "/auth/token", Scopes: []string{"orders:read"}}
				if _, err := cc.Token(context.Background()); err != nil {
					t.Fatalf("client credentials: %v", err)
				}
			},
			want: func(e audit.Event) bool {
				return e.Details["client_id"] == "svc" && e.IP == "127.0.0.1" && e.RequestID != ""
			}},
		{name: "token refreshed", kind: audit.TokenRefreshed, act: func(t *testing.T, g *testutil.Instance) {
			refresh(t, g, passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string))
		}},
		{name: "token revoked", kind: audit.TokenRevoked, act: func(t *testing.T, g *testutil.Instance) {
			m := passwordGrant(t, g, "alice", strongPassword)
			do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", url.Values{"token": {m["refresh_token"].(string)}}.Encode(),
				"Content-Type", "application/x-www-form-urlencoded")
		}},
		{name: "refresh reuse detected", kind: audit.RefreshReuse, act: func(t *testing.T, g *testutil.Instance) {
			rt := passwordGrant(t, g, "alice", strongPassword)["refresh_token"].(string)
			refresh(t, g, rt)
			refresh(t, g, rt)
		}},
		{name: "key rotated", kind: audit.KeyRotated, act: func(t *testing.T, g *testutil.Instance) {
			if _, err := g.App.Keys.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "user created", kind: audit.UserCreated, act: func(t *testing.T, g *testutil.Instance) {
			g.CreateUser(t, "bob", strongPassword)
		}},
		{name: "user changed: roles", kind: audit.UserChanged, act: func(t *testing.T, g *testutil.Instance) {
			if _, err := g.App.Users.SetRoles(t.Context(), "alice", []string{"admin"}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "user changed: own password", kind: audit.UserChanged, act: func(t *testing.T, g *testutil.Instance) {
			c := browser(t, g, "alice")
			if resp, body := postJSON(t, c, g.URL+"/auth/password", map[string]string{
				"current_password": strongPassword, "new_password": strongPassword + " again"}); resp.StatusCode >= 300 {
				t.Fatalf("POST /auth/password = %d %s", resp.StatusCode, body)
			}
		}},
		{name: "user disabled", kind: audit.UserDisabled, act: func(t *testing.T, g *testutil.Instance) {
			if _, err := g.App.Users.SetDisabled(t.Context(), "alice", true); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "user deleted", kind: audit.UserDeleted, act: func(t *testing.T, g *testutil.Instance) {
			if err := g.App.Users.Delete(t.Context(), "alice"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := tt.start
			if start == nil {
				start = func(t *testing.T) *testutil.Instance { return startAlice(t) }
			}
			g := start(t)
			tt.act(t, g)
			events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: tt.kind})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range events {
				found = found || tt.want == nil || tt.want(e)
			}
			if !found {
				t.Errorf("no stored %s event (of %d with that type: %+v)", tt.kind, len(events), events)
			}
			if !strings.Contains(g.Logs(), `"msg":"audit","event":"`+tt.kind+`"`) {
				t.Errorf("no logged %s event", tt.kind)
			}
		})
	}
}

// startAlice starts gatehouse (edited by edit) with the user alice.
func startAlice(t *testing.T, edit ...func(*config.Config)) *testutil.Instance {
	t.Helper()
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		for _, e := range edit {
			e(c)
		}
	}))
	g.CreateUser(t, "alice", strongPassword)
	return g
}

// A login with a username no account can have (longer than the 64
// characters of a name) leaves an audit event and log line of bounded
// size: the name is the client's to choose, up to the 1 MiB body cap, and
// every refused login is stored and logged, throttled or not.
func TestLoginAuditBoundsUsername(t *testing.T) {
	g := startAlice(t)
	long := strings.Repeat("x\u0001", 100_000) // 200 kB; 700 kB once escaped in JSON
	for _, via := range []string{"login", "password grant"} {
		var status int
		if via == "login" {
			resp, _ := loginJSON(t, testutil.Client(t), g.URL, long, "wrong password !!")
			status = resp.StatusCode
		} else {
			resp, _ := tokenRequest(t, g, url.Values{"grant_type": {"password"}, "username": {long}, "password": {"wrong password !!"}})
			status = resp.StatusCode
		}
		if status != http.StatusUnauthorized && status != http.StatusBadRequest {
			t.Fatalf("%s with a long username = %d, want 401 or 400", via, status)
		}
	}
	events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d login.failed events, want 2", len(events))
	}
	for _, e := range events {
		if len(e.Username) > 4*64+len("…") || !strings.HasPrefix(e.Username, "x") {
			t.Errorf("stored username of %d bytes (%q…), want the first 64 characters at most", len(e.Username), e.Username[:min(8, len(e.Username))])
		}
	}
	for line := range strings.SplitSeq(g.Logs(), "\n") {
		if len(line) > 4096 {
			t.Errorf("a log line of %d bytes: %.80s…", len(line), line)
		}
	}
}

// A login form whose username is not UTF-8 (form values are bytes) is a
// refused login like any other unknown name, on every store: 401 and a
// stored login.failed event, not a 500 from a database that refuses the
// bytes (PostgreSQL) with nothing on the audit trail.
func TestLoginWithNonUTF8Username(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			dsn := ""
			if store == "postgres" {
				dsn = pgtest.DSN(t)
			}
			g := startAlice(t, func(c *config.Config) {
				if dsn != "" {
					c.Store = dsn
				}
			})
			resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/login", "username=al%FFice&password=wrong+password+%21%21",
				"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json", "Origin", g.URL)
			if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("login with a non-UTF-8 username = %d %s, want a refused login", resp.StatusCode, body)
			}
			events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Type: audit.LoginFailed})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Details["reason"] != "unknown_user" {
				t.Errorf("login.failed events = %+v, want one of an unknown user", events)
			}
		})
	}
}
