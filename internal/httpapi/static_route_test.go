package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestStaticRouteLeavesThePasskeyScript: /static/webauthn.js is gatehouse's
// on every host (docs/gateway.md); a route under /static/ gets every other
// path there.
func TestStaticRouteLeavesThePasskeyScript(t *testing.T) {
	up := newUpstream(t)
	g := testutil.Start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{{Name: "assets", Match: config.RouteMatch{PathPrefix: "/static/"}, Upstream: up.URL,
			Auth: "none", Timeout: config.Duration(5 * time.Second)}}
	}))
	resp, body := send(t, "GET", g.URL+"/static/webauthn.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || body == "upstream ok" {
		t.Fatalf("/static/webauthn.js = %d %q %.40q, want gatehouse's script", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body := send(t, "GET", g.URL+"/static/app.css"); resp.StatusCode != 200 || body != "upstream ok" {
		t.Fatalf("/static/app.css = %d %q, want the route's upstream", resp.StatusCode, body)
	}
}
