package admin_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/config"
	"github.com/gatehouse-auth/gatehouse/internal/testutil"
)

// TestExplainAPIGivesTheGatewaysReason sends real requests through the
// gateway, reads the reason of its denial log line, and asks
// POST /admin/api/v1/explain about the same request.
func TestExplainAPIGivesTheGatewaysReason(t *testing.T) {
	up := testutil.StartUpstream(t)
	e := start(t, testutil.WithConfig(func(c *config.Config) {
		c.Routes = []config.Route{
			{Name: "ops", Match: config.RouteMatch{PathPrefix: "/ops/"}, Upstream: up.URL, Auth: "any", Roles: []string{"ops"}},
			{Name: "app", Match: config.RouteMatch{PathPrefix: "/app/"}, Upstream: up.URL, Auth: "session"},
		}
	}))
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		status  int
		reason  string
	}{
		{"no credential", "GET", "/ops/x", nil, 401, "no_credentials"},
		{"wrong role by token", "GET", "/ops/x", map[string]string{"Authorization": "Bearer " + e.aliceToken}, 403, "wrong_role"},
		{"wrong role by session", "GET", "/ops/x", map[string]string{"Cookie": e.cookieName + "=" + e.aliceCookie}, 403, "wrong_role"},
		{"garbage token", "GET", "/ops/x", map[string]string{"Authorization": "Bearer abc"}, 401, "invalid_token"},
		{"basic scheme", "GET", "/ops/x", map[string]string{"Authorization": "Basic YTpi"}, 401, "not_bearer"},
		{"unknown session", "GET", "/app/x", map[string]string{"Cookie": e.cookieName + "=nope"}, 401, "invalid_session"},
		{"cross-site cookie POST", "POST", "/app/x", map[string]string{"Cookie": e.cookieName + "=" + e.aliceCookie, "Sec-Fetch-Site": "cross-site"}, 403, "cross_origin"},
		{"allowed", "GET", "/app/x", map[string]string{"Cookie": e.cookieName + "=" + e.aliceCookie}, 200, ""},
	}
	reasonRE := regexp.MustCompile(`"reason":"([^"]+)"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			for k, v := range tt.headers {
				hdr = append(hdr, k, v)
			}
			before := len(e.Logs())
			resp, _ := e.do(t, tt.method, tt.path, "", hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("gateway answered %d, want %d", resp.StatusCode, tt.status)
			}
			logged := ""
			if m := reasonRE.FindStringSubmatch(e.Logs()[before:]); m != nil {
				logged = m[1]
			}
			if logged != tt.reason {
				t.Fatalf("gateway logged reason %q, want %q", logged, tt.reason)
			}
			body, _ := json.Marshal(map[string]any{"method": tt.method, "url": tt.path, "headers": tt.headers})
			r, out := e.do(t, "POST", "/admin/api/v1/explain", string(body), append([]string{"Content-Type", "application/json"}, bearer(e.rootToken)...)...)
			if r.StatusCode != 200 {
				t.Fatalf("explain = %d %s", r.StatusCode, out)
			}
			var got struct {
				Status int    `json:"status"`
				Reason string `json:"reason"`
				Route  struct {
					Name string `json:"name"`
				} `json:"route"`
			}
			_ = json.Unmarshal([]byte(out), &got)
			if got.Status != tt.status || got.Reason != logged {
				t.Errorf("explain = %d %q, gateway = %d %q", got.Status, got.Reason, tt.status, logged)
			}
			if !strings.HasPrefix(tt.path, "/"+got.Route.Name+"/") {
				t.Errorf("explain route = %q for %s", got.Route.Name, tt.path)
			}
			if strings.Contains(out, e.aliceToken) || strings.Contains(out, e.aliceCookie) {
				t.Error("explain echoed a credential")
			}
		})
	}
}

func TestAdminPathsAndRoutes(t *testing.T) {
	t.Run("a route under /admin/api/ is a config error", func(t *testing.T) {
		cfg := config.Default()
		cfg.Routes = []config.Route{{Name: "x", Match: config.RouteMatch{PathPrefix: "/admin/api/x/"}, Upstream: "http://127.0.0.1:9", Auth: "none"}}
		if errs := cfg.Validate(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "routes[0].match.path_prefix") {
			t.Errorf("Validate = %v, want a routes[0].match.path_prefix error", errs)
		}
	})
	t.Run("a route at /admin/ takes the console, the API stays", func(t *testing.T) {
		up := testutil.StartUpstream(t)
		e := start(t, testutil.WithConfig(func(c *config.Config) {
			c.Routes = []config.Route{{Name: "own-admin", Match: config.RouteMatch{PathPrefix: "/admin/"}, Upstream: up.URL, Auth: "none"}}
		}))
		resp, err := testutil.Client(t).Get(e.URL + "/admin/users") // the route's, not in openapi.json
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || up.Count() != 1 {
			t.Errorf("/admin/users = %d, upstream saw %d requests; want the route's upstream", resp.StatusCode, up.Count())
		}
		if resp, _ := e.do(t, "GET", "/admin/api/v1/users", "", bearer(e.rootToken)...); resp.StatusCode != 200 || up.Count() != 1 {
			t.Errorf("/admin/api/v1/users = %d, want the admin API", resp.StatusCode)
		}
	})
}
