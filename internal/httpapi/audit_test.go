package httpapi_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// Security events are stored and logged, without credentials.
func TestAuditTrail(t *testing.T) {
	g := testutil.Start(t)
	g.CreateUser(t, "alice", strongPassword)
	c := testutil.Client(t)
	loginJSON(t, c, g.URL, "alice", "wrong password !!")
	loginJSON(t, c, g.URL, "alice", strongPassword)
	do(t, c, "POST", g.URL+"/auth/logout", "")
	m := passwordGrant(t, g, "alice", strongPassword)
	refresh(t, g, m["refresh_token"].(string))
	refresh(t, g, m["refresh_token"].(string)) // reuse
	do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", url.Values{"token": {m["access_token"].(string)}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if _, err := g.App.Users.SetDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := g.App.Keys.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}

	events, err := g.App.Store.ListAudit(t.Context(), audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, e := range events {
		stored[e.Type] = true
		// Events raised while serving a request carry its client IP and ID,
		// even from deep inside the token grants.
		if e.Type == audit.TokenRefreshed || e.Type == audit.RefreshReuse || e.Type == audit.LoginOK {
			if e.IP != "127.0.0.1" || e.RequestID == "" {
				t.Errorf("%s event: ip %q, request id %q", e.Type, e.IP, e.RequestID)
			}
		}
		for k, v := range e.Details {
			if strings.Contains(v, strongPassword) || strings.Contains(v, m["refresh_token"].(string)) {
				t.Errorf("audit detail %s holds a credential", k)
			}
		}
	}
	logs := g.Logs()
	for _, typ := range []string{audit.UserCreated, audit.LoginFailed, audit.LoginOK, audit.Logout, audit.TokenIssued,
		audit.TokenRefreshed, audit.RefreshReuse, audit.TokenRevoked, audit.UserDisabled, audit.KeyRotated} {
		if !stored[typ] {
			t.Errorf("no stored %s event", typ)
		}
		if !strings.Contains(logs, `"event":"`+typ+`"`) {
			t.Errorf("no logged %s event", typ)
		}
	}
	g.AssertLogsDoNotContain(t, strongPassword, m["refresh_token"].(string), m["access_token"].(string))
}
