package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/store/redis/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestAPIEndpointsAnswerFormPostsWithJSON: the HTML error pages are for
// gatehouse's own forms. An OAuth endpoint that takes a form body
// (userinfo's POST, OIDC Core §5.3.1; revocation, RFC 7009) answers a
// client whose Accept names text/html, as many HTTP libraries' defaults
// do, with the JSON error and, for a 401, the Bearer challenge (RFC 6750
// §3, contract §4).
func TestAPIEndpointsAnswerFormPostsWithJSON(t *testing.T) {
	proxy := redistest.NewProxy(t)
	_, prefix := redistest.New(t)
	g := startAlice(t, func(c *config.Config) { c.Redis.URL, c.Redis.KeyPrefix = proxy.URL(), prefix })
	browser := []string{"Content-Type", formType, "Accept", browserHTML}

	resp, body := do(t, testutil.Client(t), "POST", g.URL+"/auth/userinfo", "", browser...)
	wantFormRefusal(t, resp, body, false, http.StatusUnauthorized, "unauthorized")
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("POST /auth/userinfo 401: WWW-Authenticate = %q, want the Bearer challenge", resp.Header.Get("WWW-Authenticate"))
	}

	tok, _ := passwordGrant(t, g, "alice", strongPassword)["access_token"].(string)
	proxy.Stop() // revocation's deny-lists live in Redis
	resp, body = do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", "token="+tok, browser...)
	wantFormRefusal(t, resp, body, false, http.StatusServiceUnavailable, "unavailable")
}
