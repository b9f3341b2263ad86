package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

func TestMetrics(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	loginJSON(t, testutil.Client(t), g.URL, "alice", "wrong password !!")
	m := passwordGrant(t, g, "alice", strongPassword)
	refresh(t, g, m["refresh_token"].(string))
	refresh(t, g, m["refresh_token"].(string))            // reuse
	fresh := passwordGrant(t, g, "alice", strongPassword) // m's family died of the reuse
	do(t, testutil.Client(t), "GET", g.URL+"/api/x", "", "Authorization", "Bearer "+fresh["access_token"].(string))
	do(t, testutil.Client(t), "GET", g.URL+"/api/x", "")
	do(t, testutil.Client(t), "POST", g.URL+"/auth/revoke", url.Values{"token": {"x"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")

	admin := httptest.NewServer(g.App.AdminHandler())
	t.Cleanup(admin.Close)
	resp, body := do(t, testutil.Client(t), "GET", admin.URL+"/metrics", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{
		`gatehouse_http_requests_total{code="200",route="POST /auth/token"}`,
		`gatehouse_http_requests_total{code="401",route="gateway:orders"}`,
		`gatehouse_http_requests_total{code="200",route="gateway:orders"}`,
		`gatehouse_http_request_duration_seconds_bucket{route="POST /auth/login"`,
		`gatehouse_auth_decisions_total{method="token",outcome="allow"} 1`,
		`gatehouse_login_failures_total{reason="invalid_credentials"} 1`,
		`gatehouse_tokens_total{event="issued"} 2`,
		`gatehouse_tokens_total{event="refreshed"} 1`,
		`gatehouse_tokens_total{event="reuse_detected"} 1`,
		`gatehouse_tokens_total{event="revoked"} 1`,
		`gatehouse_store_duration_seconds_bucket{op="load user by name",store="sqlite"`,
		`gatehouse_store_duration_seconds_bucket{op="rotate refresh token",store="sqlite"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// On the public listener /metrics is just a path of the public route.
	if _, body := do(t, testutil.Client(t), "GET", g.URL+"/metrics", ""); strings.Contains(body, "gatehouse_") {
		t.Error("/metrics is served on the public listener")
	}
}

// TestEnvoyHTTPServiceRoute: Envoy's HTTP ext_authz decisions are counted
// and logged under their endpoint's pattern, /auth/verify/envoy/, as
// forward-auth's are under GET /auth/verify, not under "gateway", the
// route of requests the gateway found no route for.
func TestEnvoyHTTPServiceRoute(t *testing.T) {
	up := newUpstream(t)
	g := gatewayInstance(t, testutil.NewClock(), up)
	for _, target := range []string{"/auth/verify/envoy/public/x", "/auth/verify/envoy/api/x", "/auth/verify/envoy/a/../b"} {
		testutil.RawRequest(t, strings.TrimPrefix(g.URL, "http://"), "GET", target)
	}
	admin := httptest.NewServer(g.App.AdminHandler())
	t.Cleanup(admin.Close)
	_, body := do(t, testutil.Client(t), "GET", admin.URL+"/metrics", "")
	for _, want := range []string{
		`gatehouse_http_requests_total{code="200",route="/auth/verify/envoy/"} 1`,
		`gatehouse_http_requests_total{code="401",route="/auth/verify/envoy/"} 1`,
		`gatehouse_http_requests_total{code="400",route="/auth/verify/envoy/"} 1`,
		`gatehouse_http_request_duration_seconds_count{route="/auth/verify/envoy/"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `route="gateway"`) {
		t.Errorf("an Envoy decision is counted under route=\"gateway\" (no route matched)")
	}
	if n := strings.Count(g.Logs(), `"route":"/auth/verify/envoy/"`); n != 3 {
		t.Errorf("%d request lines name route /auth/verify/envoy/, want 3:\n%s", n, g.Logs())
	}
}
